"""PASCAL VOC segmentation layout -> folder format.

    SRC/JPEGImages/<id>.jpg
    SRC/SegmentationClass/<id>.png             palette PNG: pixel value = class index, 255 = border/void
    SRC/ImageSets/Segmentation/<split>.txt     one id a line

Palette indices are kept as they are (they are the class ids; the palette only colours them) and
the 255 border stays as ignore. Class names: the 21 VOC names, or a class list (--classes) for
other data sets saved in the VOC layout.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from pixelseg.data.convert import SplitWriter, check_class_count
from pixelseg.data.folder import IGNORE_INDEX, IMAGE_EXTENSIONS, read_class_file
from pixelseg.errors import DataError

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)


def read_voc_mask(path: Path, num_classes: int) -> np.ndarray:
    """uint8 (H, W) class indices of a VOC mask; palette or grayscale, values < num_classes or 255."""
    try:
        with Image.open(path) as img:
            if img.mode not in ("P", "L"):
                raise DataError(
                    f"{path}: mask has mode {img.mode}, not palette/grayscale indices "
                    "(colour masks: use --from color-masks with a colour table)"
                )
            mask = np.array(img)  # for mode P: the palette indices, not the colours
    except FileNotFoundError:
        raise DataError(f"{path}: mask file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: unreadable mask ({err})") from None
    bad = np.unique(mask[(mask >= num_classes) & (mask != IGNORE_INDEX)])
    if bad.size:
        raise DataError(f"{path}: mask values {bad[:10].tolist()} are not class ids ({num_classes} classes, 255 = ignore)")
    return mask


def read_split_file(path: Path) -> list[str]:
    ids = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        if line.strip():
            ids.append(line.split()[0])  # ImageSets/Main files carry a second column (1/-1); keep the id
    if not ids:
        raise DataError(f"{path}: lists no image ids")
    return ids


def find_image(folder: Path, sample_id: str) -> Path | None:
    for suffix in (".jpg", *IMAGE_EXTENSIONS, ".JPG", ".PNG"):
        if (folder / f"{sample_id}{suffix}").is_file():
            return folder / f"{sample_id}{suffix}"
    return None


def splits_to_convert(root: Path, split: str | None) -> dict[str, list[str] | None]:
    """{split: ids} from ImageSets/Segmentation; ids None = every mask in SegmentationClass."""
    sets = root / "ImageSets" / "Segmentation"
    files = {p.stem: p for p in sorted(sets.glob("*.txt"))} if sets.is_dir() else {}
    if split is not None:
        if split in files:
            return {split: read_split_file(files[split])}
        if files:
            raise DataError(f"{sets / (split + '.txt')}: no such split file (there are: {', '.join(files)})")
        return {split: None}
    if not files:
        return {"train": None}
    # trainval = train + val: converting it too would put every image in two splits.
    if "trainval" in files and "train" in files and "val" in files:
        del files["trainval"]
    return {name: read_split_file(path) for name, path in files.items()}


def convert_voc(source, out, classes=None, split=None) -> dict:
    """VOC layout under `source` -> folder format in `out`. Returns {split: count}."""
    root = Path(source)
    image_dir, mask_dir = root / "JPEGImages", root / "SegmentationClass"
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise DataError(f"{folder}: not found (a VOC folder holds JPEGImages/ and SegmentationClass/, e.g. VOCdevkit/VOC2012)")
    names = read_class_file(classes) if classes is not None else list(VOC_CLASSES)
    check_class_count(names, classes or root)
    plan = splits_to_convert(root, split)
    counts = {}
    # All splits succeed together or none is written.
    with contextlib.ExitStack() as stack:
        for name, ids in plan.items():
            writer = stack.enter_context(SplitWriter(out, name, names))
            if ids is None:
                ids = sorted(p.stem for p in mask_dir.glob("*.png"))
                if not ids:
                    raise DataError(f"{mask_dir}: no PNG masks")
            for sample_id in ids:
                mask_path = mask_dir / f"{sample_id}.png"
                if not mask_path.is_file():
                    raise DataError(f"{mask_path}: mask of {sample_id!r} (listed in split {name!r}) not found")
                image_path = find_image(image_dir, sample_id)
                if image_path is None:
                    raise DataError(f"{image_dir / (sample_id + '.jpg')}: image of {sample_id!r} not found")
                writer.add(sample_id, image_path, read_voc_mask(mask_path, len(names)), source=mask_path)
            counts[name] = len(ids)
    return counts
