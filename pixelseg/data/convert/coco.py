"""COCO instance annotations (polygons and RLE) -> semantic index masks, via pycocotools.

Rules (documented in docs/data.md):
- 0 = background; the JSON's categories sorted by category id become classes 1..N (or, with a
  class list, line i names class i and must be a category name; unlisted categories are painted 0);
- crowd regions (iscrowd = 1) become 255 (ignore) first;
- non-crowd objects are then painted largest first (annotation `area`, ties by annotation id), so
  a smaller object lying on a larger one stays visible; they overwrite crowd pixels they cover.
"""
from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from pixelseg.data.convert import SplitWriter, check_class_count, orient_like_image
from pixelseg.data.folder import IGNORE_INDEX, read_class_file
from pixelseg.errors import DataError, DataWarning


def load_coco(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: annotation file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(key), list) for key in ("images", "annotations", "categories")):
        raise DataError(f"{path}: not a COCO instances file (needs lists 'images', 'annotations' and 'categories')")
    return data


def class_map(data: dict, path: Path, classes_file: str | Path | None) -> tuple[list[str], dict[int, int]]:
    """Class names (index order) and category id -> class index."""
    categories = sorted(data["categories"], key=lambda c: c["id"])
    ids = [c["id"] for c in categories]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: category ids repeat ({sorted({i for i in ids if ids.count(i) > 1})})")
    if classes_file is None:
        names = ["background"] + [str(c["name"]) for c in categories]
        check_class_count(names, path)
        return names, {c["id"]: i + 1 for i, c in enumerate(categories)}
    names = read_class_file(classes_file)
    check_class_count(names, classes_file)
    by_name = {str(c["name"]): c["id"] for c in categories}
    unknown = [name for name in names[1:] if name not in by_name]
    if unknown:
        raise DataError(f"{classes_file}: {', '.join(map(repr, unknown))} not among the categories of {path} (line 1 is background)")
    mapping = {category_id: 0 for category_id in ids}
    mapping.update({by_name[name]: i for i, name in enumerate(names) if i > 0})
    return names, mapping


def annotation_mask(ann: dict, height: int, width: int, path: Path) -> np.ndarray:
    """Boolean (H, W) region of one annotation: polygons (list of flat xy lists) or RLE (dict)."""
    segmentation = ann.get("segmentation")
    where = f"{path}: annotation {ann.get('id')} (image {ann.get('image_id')})"
    if isinstance(segmentation, list):
        polygons = []
        for polygon in segmentation:
            if not isinstance(polygon, list) or len(polygon) % 2:
                raise DataError(f"{where}: a polygon must be a flat list of x, y pairs")
            # Fewer than 3 points enclose nothing; pycocotools would even read 4 numbers as a box.
            try:
                numbers = [float(v) for v in polygon]
            except (TypeError, ValueError):
                raise DataError(f"{where}: a polygon holds something that is not a number") from None
            if not all(map(math.isfinite, numbers)):
                raise DataError(f"{where}: a polygon holds a coordinate that is not a finite number (NaN or Infinity)")
            if len(polygon) >= 6:
                polygons.append(numbers)
            else:
                warnings.warn(f"{where}: a polygon of {len(polygon) // 2} point{'s' * (len(polygon) != 2)} encloses nothing; skipped", DataWarning)
        if not polygons:
            return np.zeros((height, width), dtype=bool)
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
        if list(segmentation["size"]) != [height, width]:
            raise DataError(f"{where}: RLE size {segmentation['size']} (H, W) but the image is {[height, width]}")
        if isinstance(segmentation["counts"], list):  # uncompressed RLE (crowd regions)
            rle = mask_utils.frPyObjects(segmentation, height, width)
        else:
            counts = segmentation["counts"]
            rle = {"size": segmentation["size"], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    else:
        raise DataError(f"{where}: segmentation is neither polygons nor RLE")
    try:
        with warnings.catch_warnings():  # pycocotools' numpy-2 DeprecationWarning, once per object
            warnings.simplefilter("ignore", DeprecationWarning)
            return mask_utils.decode(rle).astype(bool)
    except Exception as err:  # pycocotools raises bare exceptions on corrupt RLE strings
        raise DataError(f"{where}: undecodable RLE ({err})") from None


def paint(image_info: dict, annotations: list[dict], mapping: dict[int, int], path: Path) -> np.ndarray:
    """The semantic mask uint8 (H, W) of one image (rules in the module docstring)."""
    height, width = int(image_info["height"]), int(image_info["width"])
    mask = np.zeros((height, width), dtype=np.uint8)
    for ann in annotations:
        if ann.get("iscrowd") and mapping[ann["category_id"]]:
            mask[annotation_mask(ann, height, width, path)] = IGNORE_INDEX
    objects = [ann for ann in annotations if not ann.get("iscrowd")]
    regions = {id(ann): annotation_mask(ann, height, width, path) for ann in objects}
    # `area` as the file gives it; files without it fall back to the decoded pixel count.
    area = {id(ann): float(ann["area"]) if "area" in ann else float(regions[id(ann)].sum()) for ann in objects}
    for ann in sorted(objects, key=lambda a: (-area[id(a)], a.get("id", 0))):
        mask[regions[id(ann)]] = mapping[ann["category_id"]]
    return mask


def default_split(path: Path) -> str:
    """instances_val2017.json -> "val"; anything unrecognised -> "train"."""
    match = re.search(r"(train|val|test)", path.stem)
    return match.group(1) if match else "train"


def find_images(path: Path, data: dict, split: str) -> Path:
    """Where the images are when --images is not given: the usual layouts around the JSON file."""
    suffix = path.stem.split("_", 1)[1] if "_" in path.stem else path.stem  # instances_val2017 -> val2017
    parent = path.parent
    candidates = [parent.parent / "images" / split, parent.parent / "images" / suffix, parent.parent / suffix,
                  parent / suffix, parent.parent / "images", parent / "images", parent]
    first = next((Path(image["file_name"]) for image in data["images"]), None)
    for folder in dict.fromkeys(candidates):
        if first is None or (folder / first).is_file() or (folder / first.name).is_file():
            if folder.is_dir():
                return folder
    tried = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise DataError(f"{path}: cannot find its images (looked for {first} in {tried}); pass --images DIR")


def convert_coco(source, out, classes=None, split=None, images=None) -> dict:
    """COCO instances JSON `source` -> folder format in `out` (one split). Returns {split: count}."""
    path = Path(source)
    data = load_coco(path)
    split = split or default_split(path)
    names, mapping = class_map(data, path, classes)
    image_dir = Path(images) if images is not None else find_images(path, data, split)
    if not image_dir.is_dir():
        raise DataError(f"{image_dir}: image folder not found")

    by_image: dict[int, list[dict]] = {image["id"]: [] for image in data["images"]}
    for ann in data["annotations"]:
        if ann.get("image_id") not in by_image:
            raise DataError(f"{path}: annotation {ann.get('id')} refers to image {ann.get('image_id')}, which is not in 'images'")
        if ann.get("category_id") not in mapping:
            raise DataError(f"{path}: annotation {ann.get('id')} has category {ann.get('category_id')}, which is not in 'categories'")
        by_image[ann["image_id"]].append(ann)

    with SplitWriter(out, split, names) as writer:
        for info in sorted(data["images"], key=lambda image: image["file_name"]):
            image_path = image_dir / info["file_name"]
            if not image_path.is_file() and (image_dir / Path(info["file_name"]).name).is_file():
                image_path = image_dir / Path(info["file_name"]).name  # file_name with a folder prefix
            if not image_path.is_file():
                raise DataError(f"{image_path}: image of {path} not found (image id {info['id']}); pass --images DIR")
            mask = paint(info, by_image[info["id"]], mapping, path)
            # COCO draws on the stored pixels; `load_image` turns EXIF-rotated photos upright.
            mask = orient_like_image(mask, image_path)
            writer.add(Path(info["file_name"]).stem, image_path, mask, source=f"{path} ({info['file_name']})")
    return {split: len(writer.ids)}
