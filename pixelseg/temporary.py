"""Temporary files and folders beside an output, for writing it atomically (write, then rename).

Not tempfile's mkstemp/mkdtemp: those create 0600 / 0700, and the mode survives the rename, so every
checkpoint, config, mask and video would be unreadable to other users and containers. These get
what open() and mkdir() give: 0666 / 0777 less the umask (0644 / 0755 under the usual 0022). Every
atomic writer in pixelseg uses them (inference/atomic.py, engine/checkpoint.py, config.yaml,
metrics.csv, inference/video_io.py). Kept free of pixelseg imports: engine and inference both need it.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


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
