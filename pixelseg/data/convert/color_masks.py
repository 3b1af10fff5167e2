"""Colour-coded RGB masks + a colour table -> index masks.

Layout: SRC/images/<id>.* and SRC/masks/<id>.* (any lossless image format), or the masks in SRC and
the images in --images DIR. The colour table (--classes) is a CSV or a JSON file:

    CSV   header `name,r,g,b` (or `name,color` with #rrggbb), optional column `id`;
          rows without ids are classes 0, 1, 2... in order
    JSON  [{"name": "sky", "color": [128, 128, 128], "id": 0}, ...]  ("color" may be "#808080";
          "id" optional), or {"sky": [128, 128, 128], "road": "#804080", ...} in class order

Several colours may share a class (same name or same id). Id 255, or the name `__ignore__`, marks
colours to ignore. A pixel whose colour is not in the table is an error naming the file and the
colour: guessing the nearest colour would hide a JPEG-compressed or antialiased mask.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from pixelseg.data.convert import SplitWriter, check_class_count
from pixelseg.data.folder import IGNORE_INDEX, IMAGE_EXTENSIONS
from pixelseg.errors import DataError

IGNORE_NAME = "__ignore__"


def _colour(value, path: Path, where: str) -> tuple[int, int, int]:
    if isinstance(value, str):
        text = value.strip().lstrip("#")
        if len(text) == 6:
            try:
                return tuple(int(text[i : i + 2], 16) for i in (0, 2, 4))
            except ValueError:
                pass
    elif isinstance(value, (list, tuple)) and len(value) == 3:
        try:
            rgb = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            rgb = None
        if rgb is not None and all(0 <= v <= 255 for v in rgb):
            return rgb
    raise DataError(f"{path}: {where}: colour {value!r} is not [r, g, b] (0..255) or #rrggbb")


def read_colour_table(path: str | Path) -> tuple[list[str], dict[tuple[int, int, int], int]]:
    """Class names (index order) and colour -> class index (255 = ignore)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: colour table not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: unreadable colour table ({err})") from None
    rows: list[tuple[str, tuple[int, int, int], int | None]] = []  # (name, colour, id or None)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: not valid JSON ({err})") from None
        if isinstance(data, dict):
            rows = [(str(name), _colour(value, path, f"class {name!r}"), None) for name, value in data.items()]
        elif isinstance(data, list) and all(isinstance(entry, dict) for entry in data):
            for i, entry in enumerate(data):
                if "name" not in entry or "color" not in entry:
                    raise DataError(f"{path}: entry {i} needs 'name' and 'color'")
                rows.append((str(entry["name"]), _colour(entry["color"], path, f"entry {i}"), entry.get("id")))
        else:
            raise DataError(f"{path}: expected a list of {{name, color[, id]}} or an object name -> colour")
    else:
        reader = csv.DictReader(text.splitlines())
        columns = {c.strip().lower(): c for c in reader.fieldnames or []}
        if "name" not in columns or not ({"r", "g", "b"} <= columns.keys() or "color" in columns):
            raise DataError(f"{path}: a colour table CSV needs a header with name,r,g,b (or name,color), found {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            if "color" in columns:
                value = row[columns["color"]]
            else:
                value = [row[columns[c]] for c in "rgb"]
            colour = _colour(value, path, f"line {line}")
            raw_id = row.get(columns["id"]) if "id" in columns else None
            rows.append((row[columns["name"]].strip(), colour, raw_id if raw_id not in (None, "") else None))
    if not rows:
        raise DataError(f"{path}: no colours in the table")
    return _assign_ids(rows, path)


def _assign_ids(rows, path: Path) -> tuple[list[str], dict[tuple[int, int, int], int]]:
    names: dict[int, str] = {}
    by_name: dict[str, int] = {}
    table: dict[tuple[int, int, int], int] = {}
    for name, colour, raw_id in rows:
        if raw_id is not None:
            try:
                class_id = int(raw_id)
            except (TypeError, ValueError):
                raise DataError(f"{path}: id {raw_id!r} of {name!r} is not an integer") from None
        elif name == IGNORE_NAME:
            class_id = IGNORE_INDEX
        elif name in by_name:
            class_id = by_name[name]
        else:
            class_id = max(names, default=-1) + 1  # the next free id
        if not 0 <= class_id <= IGNORE_INDEX:
            raise DataError(f"{path}: id {class_id} of {name!r} is outside 0..255")
        if class_id != IGNORE_INDEX:
            if names.get(class_id, name) != name:
                raise DataError(f"{path}: id {class_id} is named both {names[class_id]!r} and {name!r}")
            names[class_id] = name
            by_name[name] = class_id
        if colour in table and table[colour] != class_id:
            raise DataError(f"{path}: colour {colour} is given to two classes")
        table[colour] = class_id
    count = max(names, default=-1) + 1
    missing = [i for i in range(count) if i not in names]
    if missing:
        raise DataError(f"{path}: class ids {missing} have no entry (ids must run 0..{count - 1} without gaps)")
    class_names = [names[i] for i in range(count)]
    check_class_count(class_names, path)
    return class_names, table


def colour_to_index(path: Path, table: dict[tuple[int, int, int], int]) -> np.ndarray:
    """uint8 (H, W) class ids from the colour mask file `path`; unknown colours raise DataError."""
    try:
        with Image.open(path) as img:
            fmt = img.format
            rgb = np.array(img.convert("RGB"))  # palette and RGBA masks too (alpha dropped)
    except FileNotFoundError:
        raise DataError(f"{path}: mask file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: unreadable mask ({err})") from None
    # One integer per colour, then a sorted lookup: a few ms per mask instead of a loop per class.
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    keys = np.array(sorted((r << 16) | (g << 8) | b for r, g, b in table), dtype=np.int32)
    values = np.array([table[((k >> 16) & 255, (k >> 8) & 255, k & 255)] for k in keys], dtype=np.uint8)
    position = np.clip(np.searchsorted(keys, codes), 0, len(keys) - 1)
    known = keys[position] == codes
    if not known.all():
        unknown, counts = np.unique(codes[~known], return_counts=True)
        ys, xs = np.nonzero(~known)
        first = [((int(c) >> 16) & 255, (int(c) >> 8) & 255, int(c) & 255) for c in unknown[np.argsort(-counts)][:5]]
        hint = " — it is a JPEG: lossy compression invents colours at every edge; use PNG" if fmt == "JPEG" else ""
        raise DataError(
            f"{path}: {len(unknown)} colour(s) not in the colour table, e.g. RGB {first[0]} at x={xs[0]}, y={ys[0]} "
            f"({(~known).sum()} pixels; most common: {', '.join(map(str, first))}){hint}"
        )
    return values[position]


def _by_stem(folder: Path, what: str) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith("."):
            if path.stem in files:
                raise DataError(f"{path}: two {what} share the id {path.stem!r} (also {files[path.stem].name})")
            files[path.stem] = path
    return files


def convert_color_masks(source, out, classes=None, split=None, images=None) -> dict:
    """Colour masks -> folder format in `out` (one split). Returns {split: count}."""
    root = Path(source)
    if classes is None:
        raise DataError("--from color-masks needs the colour table: --classes TABLE.csv or TABLE.json")
    names, table = read_colour_table(classes)
    if images is not None:
        image_dir, mask_dir = Path(images), root
    else:
        image_dir, mask_dir = root / "images", root / "masks"
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise DataError(f"{folder}: not found (expected SRC/images and SRC/masks, or masks in SRC and --images DIR)")
    image_files, mask_files = _by_stem(image_dir, "images"), _by_stem(mask_dir, "masks")
    for stem, path in mask_files.items():
        if stem not in image_files:
            raise DataError(f"{path}: mask without an image (no {stem}.* in {image_dir})")
    split = split or "train"
    with SplitWriter(out, split, names) as writer:
        for stem, image_path in image_files.items():
            if stem not in mask_files:
                raise DataError(f"{image_path}: image without a mask (no {stem}.* in {mask_dir})")
            writer.add(stem, image_path, colour_to_index(mask_files[stem], table), source=mask_files[stem])
    return {split: len(writer.ids)}
