"""Temporary files and folders beside an output, for writing it atomically (write, then rename).

Not tempfile's mkstemp/mkdtemp: those create 0600 / 0700, and the mode survives the rename, so every
checkpoint, config, mask and video would be unreadable to other users and containers. These get
what open() and mkdir() give: 0666 / 0777 less the umask (0644 / 0755 under the usual 0022). Every
atomic writer in pixelseg uses them (inference/atomic.py, engine/checkpoint.py, config.yaml,
metrics.csv, inference/video_io.py, data/convert's split), all named as `temporary_name` says, so
`remove_stale_temporaries` finds what a killed write of any kind left behind. Kept free of pixelseg
imports: the bottom layer, which engine, inference and data all use.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Iterable


def create_temporary(folder: str | Path, prefix: str, suffix: str = "") -> tuple[int, Path]:
    """Like tempfile.mkstemp(suffix, prefix, folder): a new file opened for writing, (fd, path),
    but with the umask's mode (see the module docstring)."""
    for _ in range(100):
        path = Path(folder) / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: no free temporary name {prefix}*{suffix}")


def create_temporary_dir(folder: str | Path, prefix: str, suffix: str = "") -> Path:
    """Like tempfile.mkdtemp, with the umask's mode."""
    for _ in range(100):
        path = Path(folder) / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            path.mkdir(0o777)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: no free temporary name {prefix}*{suffix}")


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "wb"):
    """A file opened under a temporary name beside `path`; when the block ends it is flushed to the
    disk and renamed over `path` (whole or not at all), and removed instead if the block raised.

    >>> with atomic_file("run/last.pt") as f:
    ...     torch.save(state, f)
    """
    path = Path(path)
    fd, tmp = create_temporary(path.parent, f".{path.name}.", ".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomically(path: str | Path, text: str) -> Path:
    """`path` holds `text` whole, or keeps what it held (config.yaml, metrics.csv)."""
    with atomic_file(path, "w") as f:
        f.write(text)
    return Path(path)


# The names every atomic writer gives its temporaries: `.<stem>.<8 hex>.tmp<suffix>` (images, videos:
# the suffix tells the encoder the format) or `.<name>.<8 hex>.tmp` (checkpoints, config.yaml,
# metrics.csv, frame folders, a converted split).
_TEMPORARY = re.compile(r"^\.(?P<stem>.+)\.[0-9a-f]{8}\.tmp(?P<suffix>\.[^.]+)?$")


def remove_stale_temporaries(folder: str | Path, targets: Iterable[Path]) -> int:
    """Delete the temporaries a killed run (kill -9, power loss: no cleanup ran) left in `folder` for
    the outputs `targets`, before writing them again. Returns how many were removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    names = {Path(t).name for t in targets}
    removed = 0
    for entry in folder.iterdir():
        match = _TEMPORARY.match(entry.name)
        if match and match["stem"] + (match["suffix"] or "") in names:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            removed += 1
    return removed
