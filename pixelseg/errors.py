"""Errors pixelseg raises for bad input. The CLI prints them as one clear line, without a traceback
(pixelseg/cli/errors.py decides the line and the exit status)."""


class PixelsegError(Exception):
    """Base class: an error whose message is meant for the user, not a bug."""


class UsageError(PixelsegError):
    """A flag or argument that cannot work (a value out of range, an output path of the wrong kind);
    raised before any work is done. The message names the flag."""


class DataError(PixelsegError):
    """A data set, image or mask is missing, unreadable or inconsistent. The message names the file."""


class TrainingError(PixelsegError):
    """Training cannot go on (for example a NaN loss); the last good checkpoint is kept."""


class DataWarning(UserWarning):
    """Something in the data is suspicious but can be right (a polygon that encloses nothing); the CLI
    prints it as one `warning:` line and carries on."""
