"""A folder of labelme JSON files -> folder format, with ONE class map for the whole folder.

labelme stores class names, not ids, so ids must come from one place: a class list (--classes,
line i = class i; a `__ignore__` line is skipped and `_background_` means class 0, as in labelme's
own labels.txt), or else the sorted union of all labels in the folder after "background". Never
per-file ids: the same name is the same id in every mask.

Shapes are drawn with PIL ImageDraw the way labelme draws them, in file order (later shapes on
top): polygon, rectangle (two corners), circle (centre, a point on the rim), line and linestrip
(`line_width` pixels wide), mask (labelme 5's bitmap shape). Points are skipped (no area).
Labels `__ignore__` -> 255, `_background_` -> 0. The image is `imageData` (embedded, base64) when
present, else `imagePath` relative to the JSON file.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pixelseg.data.convert import SplitWriter, check_class_count
from pixelseg.data.folder import IGNORE_INDEX, read_class_file
from pixelseg.errors import DataError

IGNORE_LABEL, BACKGROUND_LABEL = "__ignore__", "_background_"
SKIPPED_SHAPES = ("point", "points")
DEFAULT_LINE_WIDTH = 10  # labelme's own default for line shapes in its label exports


def load_labelme(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise DataError(f"{path}: not a labelme file (no 'shapes' list)")
    for i, shape in enumerate(data["shapes"]):
        if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
            raise DataError(f"{path}: shape {i} has no 'label' (a string)")
        if "points" not in shape:
            raise DataError(f"{path}: shape {i} ({shape['label']!r}) has no 'points'")
        if not isinstance(shape["points"], list):
            raise DataError(f"{path}: shape {i} ({shape['label']!r}): 'points' must be a list of [x, y] pairs, got {shape['points']!r:.40}")
    return data


def class_map(files: dict[Path, dict], classes_file: str | Path | None) -> tuple[list[str], dict[str, int]]:
    """Class names (index order, written to classes.txt) and label -> mask value."""
    specials = {IGNORE_LABEL: IGNORE_INDEX, BACKGROUND_LABEL: 0}
    if classes_file is not None:
        names = [name for name in read_class_file(classes_file) if name != IGNORE_LABEL]
        if BACKGROUND_LABEL in names:
            if names.index(BACKGROUND_LABEL) != 0:
                raise DataError(f"{classes_file}: {BACKGROUND_LABEL} must be the first class (it is class 0)")
            names[0] = "background"  # labelme's spelling of class 0
        check_class_count(names, classes_file)
    else:
        labels = {shape["label"] for data in files.values() for shape in data["shapes"]} - set(specials)
        names = ["background", *sorted(labels - {"background"})]
        check_class_count(names, "the labels of the folder")
    mapping = {name: i for i, name in enumerate(names)}
    mapping.update(specials)
    for path, data in files.items():
        for shape in data["shapes"]:
            if shape["label"] not in mapping:
                raise DataError(f"{path}: label {shape['label']!r} is not in {classes_file} ({len(names)} classes: {', '.join(names[:8])}...)")
    return names, mapping


def _points(shape: dict, path: Path, need: int) -> list[tuple[float, float]]:
    try:
        points = [(float(x), float(y)) for x, y in shape["points"]]
    except (TypeError, ValueError):
        raise DataError(f"{path}: shape {shape['label']!r} has points that are not [x, y] pairs") from None
    if not all(math.isfinite(v) for point in points for v in point):  # JSON's NaN and Infinity: PIL would draw them somewhere
        raise DataError(f"{path}: shape {shape['label']!r} has a point that is not a finite number ({next(p for p in points if not all(map(math.isfinite, p)))})")
    if len(points) < need:
        raise DataError(f"{path}: {shape.get('shape_type') or 'polygon'} {shape['label']!r} needs at least {need} points, has {len(points)}")
    return points


def draw_shape(shape: dict, size: tuple[int, int], path: Path, line_width: int) -> np.ndarray | None:
    """Boolean (H, W) region of one shape, None for point shapes. `size` = (H, W)."""
    kind = shape.get("shape_type") or "polygon"
    if kind in SKIPPED_SHAPES:
        return None
    height, width = size
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    if kind == "polygon":
        draw.polygon(_points(shape, path, 3), outline=1, fill=1)
    elif kind == "rectangle":
        xs, ys = zip(*_points(shape, path, 2))  # two opposite corners (some tools write all four)
        draw.rectangle([min(xs), min(ys), max(xs), max(ys)], outline=1, fill=1)
    elif kind == "circle":
        (cx, cy), (px, py) = _points(shape, path, 2)[:2]
        r = math.hypot(px - cx, py - cy)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=1, fill=1)
    elif kind in ("line", "linestrip"):
        draw.line(_points(shape, path, 2), fill=1, width=line_width)
    elif kind == "mask":  # labelme 5: a base64 PNG of 0/1 values covering the box from points[0]
        (x0, y0), _ = _points(shape, path, 2)[:2]
        try:
            with Image.open(io.BytesIO(base64.b64decode(shape["mask"]))) as bitmap:
                bits = np.array(bitmap) > 0
        except (KeyError, TypeError, binascii.Error, OSError, ValueError) as err:
            raise DataError(f"{path}: mask shape {shape['label']!r} has no readable 'mask' bitmap ({err})") from None
        if bits.ndim != 2:
            raise DataError(f"{path}: mask shape {shape['label']!r}: its bitmap is not single-channel")
        region = np.zeros((height, width), dtype=bool)
        x0, y0 = int(x0), int(y0)  # labelme slices from int(x1), int(y1)
        window = region[y0 : y0 + bits.shape[0], x0 : x0 + bits.shape[1]]
        window |= bits[: window.shape[0], : window.shape[1]]
        return region
    else:
        raise DataError(f"{path}: shape type {kind!r} of {shape['label']!r} is not supported")
    return np.array(canvas, dtype=bool)


def image_source(path: Path, data: dict) -> Path | bytes:
    """The embedded image bytes, else the file `imagePath` points to."""
    if data.get("imageData"):
        try:
            return base64.b64decode(data["imageData"], validate=True)
        except (binascii.Error, TypeError, ValueError) as err:
            raise DataError(f"{path}: imageData is not valid base64 ({err})") from None
    if not data.get("imagePath"):
        raise DataError(f"{path}: neither imageData nor imagePath")
    image_path = path.parent / str(data["imagePath"]).replace("\\", "/")  # labelme on Windows writes backslashes
    if not image_path.is_file():
        raise DataError(f"{path}: its image {image_path} (imagePath) not found, and no imageData embedded")
    return image_path


def convert_labelme(source, out, classes=None, split=None, line_width: int = DEFAULT_LINE_WIDTH) -> dict:
    """Every *.json in the folder `source` -> folder format in `out`. Returns {split: count}."""
    root = Path(source)
    if not root.is_dir():
        raise DataError(f"{root}: labelme folder not found")
    paths = sorted(root.glob("*.json"))
    if not paths:
        raise DataError(f"{root}: no labelme .json files")
    if line_width < 1:
        raise DataError(f"line width {line_width}: must be at least 1 pixel")
    split = split or "train"
    files = {path: load_labelme(path) for path in paths}  # read all first: the class map needs every label
    names, mapping = class_map(files, classes)
    with SplitWriter(out, split, names) as writer:
        for path, data in files.items():
            image = image_source(path, data)
            try:
                size = int(data["imageHeight"]), int(data["imageWidth"])
            except (KeyError, TypeError, ValueError):
                raise DataError(f"{path}: imageHeight / imageWidth missing") from None
            mask = np.zeros(size, dtype=np.uint8)
            for shape in data["shapes"]:
                region = draw_shape(shape, size, path, line_width)
                if region is not None:
                    mask[region] = mapping[shape["label"]]
            writer.add(path.stem, image, mask, source=path)
    return {split: len(writer.ids)}
