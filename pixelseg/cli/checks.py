"""Checks a command runs on its output paths before any work: a run that would fail at its first
write after minutes of training (or print its scores and then a traceback) fails at once instead,
and nothing is created to find out."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pixelseg.errors import UsageError


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def _probe(folder: Path, flag: str, path: Path) -> None:
    """Create and delete a hidden file in `folder`: the only test that root, read-only mounts and
    network file systems all answer truthfully (os.access says yes to root everywhere)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".pixelseg-probe-", dir=folder)
    except OSError as err:
        reason = "permission denied" if isinstance(err, PermissionError) else (err.strerror or str(err)).lower()
        raise UsageError(f"{flag} {path}: cannot write in {folder} ({reason})") from None
    os.close(fd)
    os.unlink(probe)


def check_output_dir(path: str | Path, flag: str = "--out", shown: Path | None = None) -> Path:
    """A folder that is there or can be made, and written in. Refuses a file in its place, a file
    above it (`out.png/run`), and a place this user cannot write. `shown`: the path to name in the
    message (a file's, when this checks its folder)."""
    path = Path(path)
    shown = shown or path
    existing = _nearest_existing(path)
    if existing == path and not path.is_dir():
        raise UsageError(f"{flag} {shown}: {'is a file, not a folder' if shown == path else f'{path} is a file, not a folder'}")
    if not existing.is_dir():
        raise UsageError(f"{flag} {shown}: {existing} is a file, so no folder can be made under it")
    _probe(existing, flag, shown)
    return path


def check_output_file(path: str | Path, flag: str) -> Path:
    """A file that can be written: not a folder, in a folder that is there or can be made."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} {path}: the file is not writable (permission denied)")
    check_output_dir(path.parent, flag, shown=path)
    return path
