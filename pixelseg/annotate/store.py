"""The folder `pixelseg annotate` labels: its images, their masks, and saves that lose nothing.

It reads and writes the folder format (pixelseg/data/folder.py), so `pixelseg train --data DIR`
runs on the result:

    DIR/classes.txt              written from --classes when missing
    DIR/images/<split>/<id>.*    the photos (left untouched)
    DIR/masks/<split>/<id>.png   palette PNGs, value = class id, 255 = ignore

A plain folder of photos (images directly in DIR) becomes that format on first start: each photo
is linked (a hard link, else a copy) into DIR/images/train/, one in five into DIR/images/val/ (at
least one), so training has a validation split; the originals stay where they are. Photos added to
DIR later are linked at the next start. A folder that has DIR/images/ of its own is left as it is.

Every save writes a temporary file beside the mask, flushes it to disk and renames it over the
mask, so a killed server leaves the old mask or the new one, never a torn one. Each mask has a
version (a hash of its bytes, "" when there is none); a save names the version it was made from,
and a save from an older version is refused (`StaleVersion`, HTTP 409), so two tabs editing one
image cannot silently overwrite each other.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pixelseg.data.folder import IGNORE_INDEX, IMAGE_EXTENSIONS, image_to_rgb, load_mask, read_classes
from pixelseg.errors import DataError, PixelsegError
from pixelseg.temporary import create_temporary, remove_stale_temporaries
from pixelseg.viz.palette import mask_to_palette_image

DEFAULT_MAX_PIXELS = 8192 * 8192  # 67 MP: larger photos are refused from their header, before decoding
PLAIN_SPLIT, VAL_SPLIT = "train", "val"  # where a plain folder's photos go
LINKED_MARKER = ".linked-by-pixelseg-annotate"  # in DIR/images/: photos added to DIR later are linked too
_ID = re.compile(r"^[^/\\\x00]+/[^/\\\x00]+$")


class StaleVersion(PixelsegError):
    """A save made from a version of the mask that is no longer the one on disk."""

    def __init__(self, message: str, current: str):
        super().__init__(message)
        self.current = current


class NotFound(PixelsegError):
    """No image of that id in the folder."""


class TooLarge(DataError):
    """An image with more pixels than the store opens."""


class BadMask(DataError):
    """A mask on disk (or a save) whose values or size do not fit the image and the classes."""


@dataclass(frozen=True)
class Entry:
    id: str          # "<split>/<stem>"
    split: str
    stem: str
    image: Path
    mask: Path


def version_of(path: Path) -> str:
    """The version of the mask at `path`: the first 16 hex digits of its bytes' SHA-256, "" when absent."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except FileNotFoundError:
        return ""


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()


def _parse_classes(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not names or "" in names:
        raise PixelsegError(f"--classes {text!r}: names separated by commas, none empty (for example background,cat)")
    if len(set(names)) != len(names):
        raise PixelsegError(f"--classes {text!r}: a class is named twice")
    if len(names) > 255:
        raise PixelsegError(f"--classes: {len(names)} classes; masks are uint8 with 255 = ignore (at most 255 classes)")
    return names


def _link_or_copy(source: Path, target: Path) -> None:
    fd, tmp = create_temporary(target.parent, f".{target.stem}.", f".tmp{target.suffix}")
    os.close(fd)
    tmp.unlink()
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copy2(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class AnnotationStore:
    """The images of a folder and their masks.

    Args:
        root: the folder: the folder format (DIR/images/<split>/) or a plain folder of photos.
        classes: class names (a list, or "background,cat"); written to DIR/classes.txt when it is
            missing, and checked against it when it is there.
        max_pixels: images with more pixels (W·H, read from the header) are refused with a clear message.
    """

    def __init__(self, root: str | Path, classes: list[str] | str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.root = Path(root)
        self.max_pixels = max_pixels
        if not self.root.is_dir():
            raise DataError(f"{self.root}: folder not found")
        if isinstance(classes, str):
            classes = _parse_classes(classes)
        self.classes = self._classes(classes)
        self.converted = self._adopt_plain_photos()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self.scan()
        for folder in {e.mask.parent for e in self._entries.values()}:  # what a killed save left behind
            remove_stale_temporaries(folder, [e.mask for e in self._entries.values() if e.mask.parent == folder])

    # -- the folder ------------------------------------------------------------------------------

    def _classes(self, given: list[str] | None) -> list[str]:
        path = self.root / "classes.txt"
        if path.exists():
            existing = read_classes(self.root)
            if given is not None and list(given) != existing:
                raise PixelsegError(f"{path} names {', '.join(existing)}, but --classes names {', '.join(given)}; "
                                    "leave --classes out to use the file, or edit the file")
            return existing
        if given is None:
            raise PixelsegError(f"{path}: missing; name the classes with --classes (for example --classes background,cat)")
        fd, tmp = create_temporary(self.root, ".classes.", ".tmp.txt")
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write("".join(f"{name}\n" for name in given))
        os.replace(tmp, path)
        return list(given)

    def _adopt_plain_photos(self) -> int:
        """Photos directly in DIR: linked into DIR/images/train/ and, one in five, DIR/images/val/ (at
        least one when there are two or more), so that `pixelseg train --data DIR` runs as it is.
        Photos linked before (by name, in either split) are left. Returns how many were linked."""
        photos = sorted(p for p in self.root.iterdir() if _is_image_file(p))
        marker = self.root / "images" / LINKED_MARKER
        if not photos or ((self.root / "images").is_dir() and not marker.exists()):
            return 0  # a data set of the folder format already: a stray photo beside it is not one of its images
        splits = {name: self.root / "images" / name for name in (PLAIN_SPLIT, VAL_SPLIT)}
        taken = {p.stem for folder in splits.values() if folder.is_dir() for p in folder.iterdir() if _is_image_file(p)}
        new = [(i, p) for i, p in enumerate(photos) if p.stem not in taken]
        to_val = {i for i, _ in new if i % 5 == 4}
        if not to_val and len(photos) >= 2 and not splits[VAL_SPLIT].is_dir() and new:
            to_val = {new[-1][0]}
        seen: set[str] = set()
        added = 0
        for i, photo in new:
            if photo.stem in seen:  # a.jpg and a.png: one id, the first is labelled
                continue
            seen.add(photo.stem)
            target = splits[VAL_SPLIT if i in to_val else PLAIN_SPLIT]
            target.mkdir(parents=True, exist_ok=True)
            _link_or_copy(photo, target / photo.name)
            added += 1
        marker.touch()
        return added

    def scan(self) -> list[Entry]:
        """Look at the folder again (images added or removed while the server runs); sorted by id."""
        images = self.root / "images"
        entries: dict[str, Entry] = {}
        if images.is_dir():
            for split_dir in sorted(p for p in images.iterdir() if p.is_dir() and not p.name.startswith(".")):
                for path in sorted(p for p in split_dir.iterdir() if _is_image_file(p)):
                    entry_id = f"{split_dir.name}/{path.stem}"
                    if entry_id in entries:  # two files with one id (a.jpg and a.png): the first is labelled
                        continue
                    entries[entry_id] = Entry(entry_id, split_dir.name, path.stem, path,
                                              self.root / "masks" / split_dir.name / f"{path.stem}.png")
        self._entries = entries
        return list(entries.values())

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def entry(self, image_id: str) -> Entry:
        """The image of id "<split>/<stem>". Only ids of the listing are answered, so no id can name a
        file outside DIR (`../`, absolute paths, back-slashes are never in the listing)."""
        if not isinstance(image_id, str) or not _ID.match(image_id) or ".." in image_id.split("/"):
            raise NotFound(f"{image_id!r} is not an image id of this folder (ids look like train/photo1)")
        if image_id not in self._entries:
            self.scan()
        entry = self._entries.get(image_id)
        if entry is None:
            raise NotFound(f"no image {image_id!r} in {self.root}")
        return entry

    def _lock(self, image_id: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(image_id, threading.Lock())

    # -- images ----------------------------------------------------------------------------------

    def open_image(self, entry: Entry) -> Image.Image:
        """The image, opened lazily, its size checked from the header. DataError when unreadable, TooLarge when huge."""
        try:
            img = Image.open(entry.image)
        except Image.DecompressionBombError as err:
            raise TooLarge(f"{entry.image.name}: too large to label here ({err})") from None
        except Exception as err:
            raise DataError(f"{entry.image.name}: not a readable image ({type(err).__name__}: {err})") from None
        width, height = img.size
        if width * height > self.max_pixels:
            img.close()
            raise TooLarge(f"{entry.image.name}: {width}×{height} ({width * height / 1e6:.1f} MP) is more than this tool opens "
                           f"({self.max_pixels / 1e6:.1f} MP, pixelseg annotate --max-megapixels); make it smaller first")
        return img

    def size(self, entry: Entry) -> tuple[int, int]:
        """(height, width) after EXIF orientation, from the header."""
        with self.open_image(entry) as img:
            width, height = img.size
            orientation = img.getexif().get(0x0112, 1)
        return (width, height) if orientation in (5, 6, 7, 8) else (height, width)

    def load_image(self, entry: Entry) -> np.ndarray:
        """RGB uint8 (H, W, 3), decoded as training decodes it (EXIF orientation applied)."""
        img = self.open_image(entry)
        try:
            return image_to_rgb(img)
        except Exception as err:
            raise DataError(f"{entry.image.name}: corrupt or truncated image ({type(err).__name__}: {err})") from None
        finally:
            img.close()

    # -- masks -----------------------------------------------------------------------------------

    def load(self, entry: Entry) -> tuple[np.ndarray | None, str]:
        """(mask, version); (None, "") when the image has no mask yet. BadMask when the mask on disk
        does not fit (values outside the classes, another size): it is reported and left as it is."""
        with self._lock(entry.id):
            if not entry.mask.exists():
                return None, ""
            version = version_of(entry.mask)
            mask = self._check_existing(entry)
        return mask, version

    def _check_existing(self, entry: Entry) -> np.ndarray:
        try:
            return load_mask(entry.mask, len(self.classes), size=self.size(entry))
        except TooLarge:
            raise
        except DataError as err:
            raise BadMask(f"{err}; it is left as it is (fix or remove it to label this image here)") from None

    def labelled(self, entry: Entry) -> bool:
        return entry.mask.exists()

    def check(self, entry: Entry, mask: np.ndarray) -> np.ndarray:
        height, width = self.size(entry)
        if mask.ndim != 2 or mask.shape != (height, width):
            shape = "×".join(map(str, mask.shape[::-1]))
            raise BadMask(f"{entry.id}: the mask is {shape} but the image is {width}×{height} (W×H)")
        mask = mask.astype(np.uint8, copy=False)
        bad = np.unique(mask[(mask >= len(self.classes)) & (mask != IGNORE_INDEX)])
        if bad.size:
            raise BadMask(f"{entry.id}: mask values {bad[:10].tolist()} are not class ids "
                          f"(0..{len(self.classes) - 1}, and 255 = ignore)")
        return mask

    def save(self, entry: Entry, mask: np.ndarray, version: str) -> str:
        """Write `mask` (uint8 (H, W)) as the image's mask if the mask on disk is still `version`
        ("" = none yet); returns the new version. StaleVersion when it is not."""
        mask = self.check(entry, mask)
        with self._lock(entry.id):
            current = version_of(entry.mask)
            if current != version:
                raise StaleVersion(f"{entry.id}: the mask was saved elsewhere since (another tab?): it is version "
                                   f"{current or '(none)'}, this change was made on {version or '(none)'}; reload the image", current)
            if current:
                self._check_existing(entry)  # never overwrite a mask we could not show: it may be someone's work
            entry.mask.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = create_temporary(entry.mask.parent, f".{entry.mask.stem}.", ".tmp.png")
            try:
                with os.fdopen(fd, "wb") as file:
                    mask_to_palette_image(mask).save(file, format="PNG", compress_level=3)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(tmp, entry.mask)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            return version_of(entry.mask)

    def counts(self) -> tuple[int, int]:
        """(images labelled, images)."""
        entries = self.entries()
        return sum(self.labelled(e) for e in entries), len(entries)
