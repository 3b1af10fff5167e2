"""What the user sees when a command fails: one line naming the file or flag, and an exit status.

    2  usage: the command cannot do what it was asked (a flag's value, a model name or option, an
       output path of the wrong kind, a missing file named by a flag); nothing was done
    1  data or run: the data, a file being read or written, or the training run failed

Anything else is a bug and keeps its traceback. `--debug` (or PIXELSEG_DEBUG=1) prints the traceback
of a user error too, for a bug report.
"""
from __future__ import annotations

import contextlib
import errno
import os
import sys
import warnings

from pixelseg.errors import DataError, DataWarning, PixelsegError, TrainingError

USAGE, FAILURE = 2, 1

# OSError subclasses -> what they mean for a path the user gave.
_OS_HINTS = {
    IsADirectoryError: "is a folder, not a file",
    NotADirectoryError: "a part of this path is a file, not a folder",
    PermissionError: "permission denied",
    FileNotFoundError: "no such file or folder",
    FileExistsError: "already exists",
}
_ERRNO_HINTS = {errno.ENOSPC: "no space left on the device", errno.EROFS: "read-only file system", errno.ELOOP: "a symbolic link loops"}


def debug_requested(args) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("PIXELSEG_DEBUG", "") not in ("", "0")


def describe(err: BaseException) -> tuple[str, int] | None:
    """(one-line message, exit status) for an error the user can cause; None for a bug."""
    described = _describe(err)
    if described is None:
        return None
    message, code = described
    return " ".join(message.split()), code  # a library's multi-line text (YAML, ONNX) on one line


def _describe(err: BaseException) -> tuple[str, int] | None:
    if isinstance(err, (DataError, TrainingError)):
        return str(err), FAILURE
    if isinstance(err, PixelsegError):
        return str(err), USAGE
    if isinstance(err, OSError):
        return describe_os_error(err), FAILURE
    if isinstance(err, UnicodeDecodeError):  # the readers name the file; this is the fallback
        return f"a file is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8", FAILURE
    return None


def describe_os_error(err: OSError) -> str:
    """`PATH: what went wrong`, e.g. `runs/x/best.pt: permission denied`."""
    hint = _ERRNO_HINTS.get(err.errno) or next((text for kind, text in _OS_HINTS.items() if isinstance(err, kind)), None)
    hint = hint or err.strerror or str(err)
    if err.filename is None:
        return hint
    where = f"{err.filename} -> {err.filename2}" if err.filename2 else f"{err.filename}"
    return f"{where}: {hint}"


@contextlib.contextmanager
def warnings_as_lines(command: str):
    """Inside the block, DataWarnings print as `pixelseg COMMAND: warning: ...` (one line, no source
    location); other warnings are left to Python."""
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DataWarning):
            print(f"pixelseg {command}: warning: {message}", file=file or sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", DataWarning)  # each is about a different file: show every one
        warnings.showwarning = show
        yield
