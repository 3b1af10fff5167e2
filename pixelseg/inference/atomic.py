"""Outputs that appear whole or not at all: write to a hidden temporary name beside the target,
then rename over it. A rename within one folder is atomic, so an interrupted run (Ctrl-C, a bad
frame half-way through a video, a full disk) never leaves a truncated PNG or an unplayable video
under the name a user or a script will look for.

Temporaries come from pixelseg/temporary.py, so outputs get the umask's mode (0644 by default).

`unfinished` is how a rerun (`--skip-existing`) tells what is left to do: outputs are renamed into
place whole, but a file renamed before the disk held its data (a power cut: the rename is not
fsynced) can still be empty or short, so the files are checked for their ends too."""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from typing import Iterable, Mapping

import numpy as np
from PIL import Image

from pixelseg.temporary import create_temporary, create_temporary_dir


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path` (same suffix, so writers pick the format from it);
    rename it to `path` when the block succeeds, delete it when the block raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temporary(path.parent, f".{path.stem}.", f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path):
    """Like `atomic_path` for a folder of many files (a video's per-frame masks): filled under a
    temporary name, then swapped in for any previous folder of that name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = create_temporary_dir(path.parent, f".{path.name}.", ".tmp")
    try:
        yield tmp
        if path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_image(image: Image.Image | np.ndarray, path: str | Path, **options) -> Path:
    """Save a PIL image or an RGB/RGBA/gray uint8 array atomically; `options` go to PIL (quality=...)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    with atomic_path(path) as tmp:
        image.save(tmp, format=_pil_format(Path(path)), **options)
    return Path(path)


def _pil_format(path: Path) -> str:
    # The temporary name ends in ".tmp.png"; PIL would guess from it too, but say it outright.
    extension = path.suffix.lower()
    Image.init()
    if extension not in Image.EXTENSION:
        raise ValueError(f"{path}: unknown image format {extension!r} (use .png, .jpg, .webp, ...)")
    return Image.EXTENSION[extension]


# The last bytes of every whole file of a format: PNG's IEND chunk (length, type, CRC), JPEG's end-of-image marker.
_ENDINGS = {".png": b"\x00\x00\x00\x00IEND\xaeB`\x82", ".jpg": b"\xff\xd9", ".jpeg": b"\xff\xd9"}


def is_complete(path: str | Path) -> bool:
    """Whether `path` is a whole output: a folder (renamed into place whole, see `atomic_dir`), or a
    non-empty file whose end is there (a PNG's closing chunk and every chunk's checksum, a JPEG's end
    marker; other formats: non-empty). Cheap: nothing is decoded, so a rerun over a million outputs is quick."""
    path = Path(path)
    if path.is_dir():
        return True
    try:
        size = path.stat().st_size
    except OSError:
        return False
    if size == 0:
        return False
    extension = path.suffix.lower()
    ending = _ENDINGS.get(extension, b"")
    try:
        with open(path, "rb") as f:
            f.seek(max(0, size - len(ending)))
            if f.read() != ending:
                return False
        if extension == ".png":
            with Image.open(path) as image:
                image.verify()  # reads every chunk, checking each CRC; decodes nothing
    except (OSError, SyntaxError, ValueError):  # PIL reports a broken PNG as any of these
        return False
    return True


def unfinished(planned: Mapping[Path, Iterable[Path]]) -> list[Path]:
    """The inputs of `planned` (input -> its outputs), in its order, whose outputs are not all whole."""
    return [source for source, outputs in planned.items() if not all(is_complete(output) for output in outputs)]
