"""Errors pixelseg raises for bad input. The CLI prints them as one clear line, without a traceback."""


class PixelsegError(Exception):
    """Base class: an error whose message is meant for the user, not a bug."""


class DataError(PixelsegError):
    """A data set, image or mask is missing, unreadable or inconsistent. The message names the file."""


class TrainingError(PixelsegError):
    """Training cannot go on (for example a NaN loss); the last good checkpoint is kept."""
