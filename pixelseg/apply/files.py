"""An effect over photos, folders and videos on disk: where each output goes, and the photo loop.

Output names: with one input file and an OUT that has a suffix, OUT is the output file. Otherwise OUT
is a folder and each input `<stem>.<ext>` becomes `OUT/<stem>.<ext>`; cut-outs (RGBA) become
`<stem>.png` for photos and `<stem>.webm` (VP9 with alpha) for videos whose container has no alpha.
"""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from pixelseg.apply.effects import Effect
from pixelseg.apply.image import apply_image, save_options
from pixelseg.apply.matte import Matte
from pixelseg.apply.video import apply_video
from pixelseg.data.folder import load_image
from pixelseg.errors import PixelsegError
from pixelseg.inference.atomic import save_image
from pixelseg.inference.predictor import Runtime
from pixelseg.inference.video_io import ALPHA_CODECS, is_video
from pixelseg.temporary import remove_stale_temporaries

# Still-image formats that keep an alpha channel.
ALPHA_IMAGE_SUFFIXES = (".png", ".webp", ".tif", ".tiff")


def output_paths(inputs: list[Path], out: Path, effect: Effect, single: bool) -> list[Path]:
    """Where each input's result goes (see the module docstring); checks formats and collisions first."""
    if single and len(inputs) == 1 and out.suffix:
        targets = [out]
    else:
        targets = [out / (path.stem + _suffix_for(path, effect)) for path in inputs]
    for source, target in zip(inputs, targets):
        if is_video(source) != is_video(target):
            kind = "video" if is_video(source) else "photo"
            raise PixelsegError(f"{target}: the input {source} is a {kind}, so the output must be one too (give a {kind} file name or a folder)")
        if effect.rgba and is_video(target) and target.suffix.lower() not in ALPHA_CODECS:
            raise PixelsegError(f"{target}: a cut-out has transparency, which a {target.suffix} video cannot hold; write .webm, .mkv, .mov or .avi")
        if effect.rgba and not is_video(target) and target.suffix.lower() not in ALPHA_IMAGE_SUFFIXES:
            raise PixelsegError(f"{target}: a cut-out has transparency, which {target.suffix} cannot hold; write .png or .webp")
        if target.resolve() == source.resolve():
            raise PixelsegError(f"{target}: the output would overwrite its input; choose another --out")
    return targets


def _suffix_for(path: Path, effect: Effect) -> str:
    suffix = path.suffix.lower()
    if not effect.rgba:
        return path.suffix
    if is_video(path):
        return path.suffix if suffix in ALPHA_CODECS else ".webm"
    return path.suffix if suffix in ALPHA_IMAGE_SUFFIXES else ".png"


def apply_paths(predictor: Runtime, effect: Effect, matte: Matte, inputs: list[Path], targets: list[Path],
                progress: bool = True, batch_size: int = 1, desc: str | None = None) -> list[Path]:
    """Photos one by one (each its own matte: no smoothing across photos), videos frame by frame.
    desc: the progress bar's name (default "apply EFFECT")."""
    for folder in {target.parent for target in targets}:  # what a killed earlier run left for these outputs
        remove_stale_temporaries(folder, [target for target in targets if target.parent == folder])
    photos = [(s, t) for s, t in zip(inputs, targets) if not is_video(s)]
    with tqdm(total=len(photos), desc=desc or f"apply {effect.name}", disable=not progress or not photos, unit="img") as bar:
        for source, target in photos:
            matte.reset()
            result = apply_image(predictor, effect, matte, load_image(source))
            save_image(result, target, **save_options(target.suffix))
            bar.update(1)
    for source, target in zip(inputs, targets):
        if is_video(source):
            apply_video(predictor, effect, matte, source, target, progress=progress, batch_size=batch_size)
    return targets
