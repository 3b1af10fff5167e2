"""What a user names on the command line -> the image and video files it means.

Each INPUT is a file, a folder (its images and videos, not recursive, hidden files skipped) or a
glob pattern (`photos/*.jpg`, `clips/**/*.mp4`; quote it so the shell leaves it to pixelseg).
"""
from __future__ import annotations

import glob
from pathlib import Path

from pixelseg.data.folder import IMAGE_EXTENSIONS
from pixelseg.errors import DataError
from pixelseg.inference.video_io import VIDEO_EXTENSIONS, is_video

GLOB_CHARACTERS = set("*?[")


def expand_inputs(inputs: list[str | Path], videos: bool = True) -> list[Path]:
    """Files in the order given (a folder's and a pattern's sorted by name), each once.

    A DataError names the input when it matches nothing, or names a file that is neither an image
    nor (with `videos`) a video, or when two inputs share a file stem (their outputs would collide).
    """
    wanted = IMAGE_EXTENSIONS + (VIDEO_EXTENSIONS if videos else ())
    files: list[Path] = []
    for item in inputs:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in wanted and not p.name.startswith("."))
            if not found:
                raise DataError(f"{path}: no images{' or videos' if videos else ''} in this folder ({', '.join(wanted)})")
        elif path.is_file():
            if path.suffix.lower() not in wanted:
                kind = "an image or a video" if videos else "an image"
                raise DataError(f"{path}: not {kind} by its name (expected one of {', '.join(wanted)})")
            found = [path]
        elif GLOB_CHARACTERS & set(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file() and Path(p).suffix.lower() in wanted)
            if not found:
                raise DataError(f"{text}: the pattern matches no images{' or videos' if videos else ''}")
        else:
            raise DataError(f"{path}: no such file or folder")
        files.extend(found)

    unique, seen_stems = [], {}
    for path in files:
        key = path.resolve()
        if key in seen_stems.values():
            continue  # named twice (a file and its folder): once is enough
        if path.stem in seen_stems:
            raise DataError(f"{path}: same name as {seen_stems[path.stem]}; their outputs would overwrite each other (rename one, or run them separately)")
        seen_stems[path.stem] = key
        unique.append(path)
    return unique


def split_media(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(images, videos), each in the given order."""
    return [p for p in paths if not is_video(p)], [p for p in paths if is_video(p)]
