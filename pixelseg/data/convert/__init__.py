"""Converters from common annotation formats into the folder format (see `pixelseg.data.folder`).

Each converter module (coco, voc, labelme, color_masks) turns its source into index masks and hands
them, one image at a time, to a `SplitWriter`. The writer checks every pair (mask size = image size
as `load_image` will see it, uint8 values) and writes into a hidden temporary folder next to the
output; only when the whole split converted cleanly is it renamed into place. A failed conversion
therefore leaves nothing behind, and a finished one is complete.

    convert("coco", "instances_val.json", "out", split="val")   # or voc / labelme / color-masks
"""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pixelseg.data.folder import IGNORE_INDEX, IMAGE_EXTENSIONS, read_class_file
from pixelseg.errors import DataError
from pixelseg.temporary import create_temporary_dir, remove_stale_temporaries

FORMATS = ("coco", "voc", "labelme", "color-masks")
# EXIF orientations that swap width and height (90° and 270° rotations, with or without a mirror).
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)


def check_class_count(classes: list[str], source: str | Path) -> None:
    if len(classes) > IGNORE_INDEX:
        raise DataError(f"{source}: {len(classes)} classes, but uint8 masks with 255 = ignore hold at most 255")


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image as `load_image` returns it (EXIF orientation applied); decodes it fully
    so that a truncated or corrupt file fails here, at conversion, rather than in training."""
    try:
        with Image.open(path) as img:
            img.load()
            width, height = img.size
            if exif_orientation(img) in _TRANSPOSING_ORIENTATIONS:
                width, height = height, width
            return height, width
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"{path}: unreadable image ({err})") from None


def exif_orientation(img: Image.Image) -> int:
    """The EXIF orientation tag (1..8; 1 = as stored)."""
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # a broken EXIF block is not worth failing over; PIL then ignores it too
        return 1


def orient_like_image(mask: np.ndarray, image_path: Path) -> np.ndarray:
    """Apply `image_path`'s EXIF orientation to a mask drawn on the image's stored pixels.

    For annotations made on the stored frame (COCO): `load_image` turns the image upright and the
    mask must turn with it. A mask whose size already is the upright size (annotated upright) and
    differs from the stored size is returned as it is.
    """
    with Image.open(image_path) as img:
        orientation, (width, height) = exif_orientation(img), img.size
    if orientation == 1 or mask.shape != (height, width):
        return mask
    carrier = Image.fromarray(mask)
    exif = carrier.getexif()
    exif[0x0112] = orientation
    carrier.info["exif"] = exif.tobytes()
    return np.array(ImageOps.exif_transpose(carrier))


def _embedded_image(data: bytes, source: Path) -> tuple[str, tuple[int, int]]:
    """File extension ("" if the folder cannot read the format) and oriented (H, W) of image bytes."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            fmt, (width, height) = img.format, img.size
            if exif_orientation(img) in _TRANSPOSING_ORIENTATIONS:
                width, height = height, width
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"{source}: embedded image data is not a readable image ({err})") from None
    suffix = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp"}.get(fmt, "")
    return suffix, (height, width)


class SplitWriter:
    """Writes one split of a folder-format data set, all or nothing.

    Use as a context manager; `add` pairs, then leave the block without an exception to publish
    (images/<split>, masks/<split> and classes.txt appear together). On an exception the temporary
    folder is deleted and the output is as it was.
    """

    def __init__(self, out: str | Path, split: str, classes: list[str]):
        self.out, self.split, self.classes = Path(out), split, list(classes)
        if not split or "/" in split or "\\" in split or split.startswith("."):
            raise DataError(f"{split!r}: not a usable split name")
        for kind in ("images", "masks"):
            target = self.out / kind / split
            if target.exists():
                raise DataError(f"{target}: already exists; remove it or convert into another --split or --out")
        classes_path = self.out / "classes.txt"
        if classes_path.is_file():
            # Adding a split to an existing set: the ids must mean the same classes.
            existing = read_class_file(classes_path)
            if existing != self.classes:
                raise DataError(
                    f"{classes_path}: lists other classes than this conversion ({len(existing)} vs {len(self.classes)}: "
                    f"{', '.join(existing[:5])}... vs {', '.join(self.classes[:5])}...); use another --out"
                )
        self.tmp: Path | None = None  # `.<split>.<8 hex>.tmp` in out, made on entering
        self.ids: dict[str, str] = {}

    def __enter__(self) -> "SplitWriter":
        self._made_out = not self.out.exists()  # then a failure removes it again
        self.out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.out, [self.split])  # what a killed conversion of this split left behind
        self.tmp = create_temporary_dir(self.out, f".{self.split}.", ".tmp")
        (self.tmp / "images").mkdir()
        (self.tmp / "masks").mkdir()
        return self

    def add(self, sample_id: str, image: Path | bytes, mask: np.ndarray, source: str | Path) -> None:
        """One pair. `image`: a file to copy byte for byte, or encoded bytes (labelme imageData).
        `mask`: uint8 (H, W) class ids, 255 = ignore. `source`: what to name in error messages."""
        if sample_id in self.ids:
            raise DataError(f"{source}: gives the id {sample_id!r} again (also from {self.ids[sample_id]})")
        self.ids[sample_id] = str(source)
        if mask.dtype != np.uint8 or mask.ndim != 2:
            raise AssertionError(f"converter bug: mask {mask.dtype} {mask.shape} for {source}")
        images = self.tmp / "images"
        if isinstance(image, bytes):
            suffix, (height, width) = _embedded_image(image, Path(source))
            if suffix:
                (images / f"{sample_id}{suffix}").write_bytes(image)
            else:  # a format the folder does not read (GIF...): stored losslessly as PNG
                with Image.open(io.BytesIO(image)) as img:
                    img.convert("RGB").save(images / f"{sample_id}.png")
        else:
            image = Path(image)
            height, width = image_size(image)
            if image.suffix.lower() in IMAGE_EXTENSIONS:
                shutil.copyfile(image, images / f"{sample_id}{image.suffix.lower()}")
            else:  # stored losslessly as PNG, upright (the orientation `image_size` reported)
                with Image.open(image) as img:
                    ImageOps.exif_transpose(img).convert("RGB").save(images / f"{sample_id}.png")
        if mask.shape != (height, width):
            raise DataError(
                f"{source}: mask is {mask.shape[1]}×{mask.shape[0]} (W×H) but its image is {width}×{height}"
            )
        Image.fromarray(mask, mode="L").save(self.tmp / "masks" / f"{sample_id}.png")

    def _discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self._made_out:
            shutil.rmtree(self.out, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._discard()
            return
        if not self.ids:
            self._discard()
            raise DataError(f"{self.out}: nothing to write for split {self.split!r} (no images in the source)")
        published: list[Path] = []
        try:
            for kind in ("images", "masks"):
                target = self.out / kind / self.split
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(self.tmp / kind, target)
                published.append(target)
            classes_tmp = self.tmp / "classes.txt"
            classes_tmp.write_text("\n".join(self.classes) + "\n", encoding="utf-8")
            os.replace(classes_tmp, self.out / "classes.txt")
        except BaseException:
            for target in published:  # roll back: leave no half-published split
                shutil.rmtree(target, ignore_errors=True)
            self._discard()
            raise
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def convert(fmt: str, source: str | Path, out: str | Path, classes: str | Path | None = None, split: str | None = None, **options) -> dict:
    """Convert `source` (format `fmt`, one of FORMATS) into the folder format under `out`.

    Returns {split: number of images written}. Options: `images=` (coco, color-masks: the image
    folder), `line_width=` (labelme: pixels for line and linestrip shapes).
    """
    from pixelseg.data.convert import coco, color_masks, labelme, voc

    converters = {"coco": coco.convert_coco, "voc": voc.convert_voc, "labelme": labelme.convert_labelme, "color-masks": color_masks.convert_color_masks}
    if fmt not in converters:
        raise DataError(f"{fmt!r}: unknown source format (one of {', '.join(FORMATS)})")
    return converters[fmt](source, out, classes=classes, split=split, **options)
