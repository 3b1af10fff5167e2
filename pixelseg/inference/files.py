"""Prediction over files: images in batches, videos frame by frame, every output written atomically.

Per image `<stem>.<ext>`, in the output folder:
    <stem>.png                 class ids as a palette PNG (values = ids, viewers show colours)
    <stem>_overlay.jpg         class colours blended over the photo
    <stem>_prob_<class>.png    with probabilities=True: P(class) as 8-bit grey (255 = 1.0), one per class
Per video `<stem>.<ext>`:
    <stem>_overlay.<ext>       the overlay as a video: same frame count, size and frame rate
    <stem>_masks/NNNNNN.png    class ids of frame NNNNNN (palette PNGs: exact, unlike a lossy video)
    <stem>_probabilities/NNNNNN_<class>.png   with probabilities=True
"""
from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from pixelseg.data.folder import load_image
from pixelseg.errors import DataError, PixelsegError
from pixelseg.inference.atomic import atomic_dir, save_image, unfinished
from pixelseg.temporary import remove_stale_temporaries
from pixelseg.inference.inputs import split_media
from pixelseg.inference.predictor import Runtime
from pixelseg.inference.video_io import VideoReader, VideoWriter
from pixelseg.runtime.outputs import class_probabilities
from pixelseg.viz.palette import mask_to_palette_image, overlay

# A buffer of decoded images waiting for same-size partners is flushed past this many batches' worth.
MAX_BUFFERED_BATCHES = 4


def safe_name(text: str) -> str:
    """A class name as a file-name part: letters, digits, '-', '_' and '.', the rest '_'."""
    return re.sub(r"[^\w.-]+", "_", text).strip("_") or "class"


def image_outputs(out: Path, stem: str, classes: list[str], probabilities: bool) -> list[Path]:
    names = [f"{stem}.png", f"{stem}_overlay.jpg"] + ([f"{stem}_prob_{safe_name(c)}.png" for c in classes] if probabilities else [])
    return [out / name for name in names]


def video_outputs(out: Path, path: Path, probabilities: bool) -> list[Path]:
    names = [f"{path.stem}_overlay{path.suffix}", f"{path.stem}_masks"] + ([f"{path.stem}_probabilities"] if probabilities else [])
    return [out / name for name in names]


def planned_outputs(paths: list[Path], out: Path, classes: list[str], probabilities: bool = False) -> dict[Path, list[Path]]:
    """Every input -> the outputs predict writes for it in `out` (see the module docstring); a
    PixelsegError when an output would overwrite an input."""
    images, videos = split_media([Path(p) for p in paths])
    planned = {p: image_outputs(out, p.stem, classes, probabilities) for p in images}
    planned.update({p: video_outputs(out, p, probabilities) for p in videos})
    _refuse_overwriting_inputs(list(planned), planned)
    return planned


def predict_files(predictor: Runtime, paths: list[Path], out: Path, progress: bool = True, probabilities: bool = False,
                  batch_size: int = 1, on_error: Callable[[Path, DataError], None] | None = None, skip_existing: bool = False,
                  desc: str = "predict") -> list[Path]:
    """Segment every image and video in `paths` into `out`; returns the mask paths (a video's: its masks folder), in input order.

    on_error: an input that cannot be read (a DataError: unreadable image, damaged video) is passed
        to on_error(path, error) and skipped, and the rest are done; without it the error stops the
        run. Either way a failed input leaves no output, and `out` is made only for the first one.
    skip_existing: an input whose outputs are all there and whole already (atomic.unfinished) is not
        done again: a run that was killed continues where it stopped.
    desc: the progress bar's name (under torchrun, with the rank: inference.shards.progress_label).
    """
    out = Path(out)
    paths = [Path(p) for p in paths]
    images, videos = split_media(paths)
    planned = planned_outputs(paths, out, predictor.classes, probabilities)
    made_out = not out.exists()
    try:
        return _predict_files(predictor, paths, planned, images, videos, out, progress, probabilities, batch_size, on_error, skip_existing, desc)
    finally:
        if made_out and out.is_dir() and not any(out.iterdir()):  # every input failed: no empty folder either
            out.rmdir()


def _predict_files(predictor, paths, planned, images, videos, out, progress, probabilities, batch_size, on_error, skip_existing, desc) -> list[Path]:
    remove_stale_temporaries(out, [o for outputs in planned.values() for o in outputs])
    written: dict[Path, Path] = {}
    if skip_existing:
        left = set(unfinished(planned))
        done = [p for p in planned if p not in left]
        written.update({p: planned[p][0] if p in images else planned[p][1] for p in done})
        images, videos = [p for p in images if p not in written], [p for p in videos if p not in written]
    with tqdm(total=len(images), desc=desc, disable=not progress or not images, unit="img") as bar:
        for path, image, logits in _batched(predictor, images, batch_size, on_error):
            written[path] = _write_image_outputs(out, path.stem, image, logits, predictor, probabilities)
            bar.update(1)
    for path in videos:
        try:
            written[path] = predict_video(predictor, path, out, progress=progress, probabilities=probabilities, batch_size=batch_size)
        except DataError as err:
            if on_error is None:
                raise
            on_error(path, err)
    return [written[p] for p in paths if p in written]


def _refuse_overwriting_inputs(paths: list[Path], planned: dict[Path, list[Path]]) -> None:
    inputs = {p.resolve() for p in paths}
    for output in (o for outputs in planned.values() for o in outputs):
        if output.resolve() in inputs:
            raise PixelsegError(f"{output}: an output would overwrite this input; choose another --out folder")


def _batched(predictor: Runtime, paths: list[Path], batch_size: int, on_error=None) -> Iterator[tuple[Path, np.ndarray, torch.Tensor]]:
    """(path, image, logits (C, H, W)) for every image, same-size images sharing forward passes.

    Images are decoded one at a time into per-size buckets; a full bucket runs at once, and when too
    many images wait for partners the fullest bucket runs as it is, so memory stays bounded.
    """
    buckets: dict[tuple, list[tuple[Path, np.ndarray]]] = {}
    batch_size = max(1, batch_size)

    def run(shape):
        bucket = buckets.pop(shape)
        logits = predictor.logits_batch([image for _, image in bucket])
        for (path, image), one in zip(bucket, logits):
            yield path, image, one

    for path in paths:
        try:
            image = load_image(path)
        except DataError as err:
            if on_error is None:
                raise
            on_error(path, err)
            continue
        buckets.setdefault(image.shape, []).append((path, image))
        if len(buckets[image.shape]) >= batch_size:
            yield from run(image.shape)
        elif sum(len(b) for b in buckets.values()) > MAX_BUFFERED_BATCHES * batch_size:
            yield from run(max(buckets, key=lambda s: len(buckets[s])))
    for shape in list(buckets):
        yield from run(shape)


def _write_image_outputs(out: Path, stem: str, image: np.ndarray, logits: torch.Tensor, predictor: Runtime, probabilities: bool) -> Path:
    mask = predictor.class_ids(logits).numpy()  # (H, W): logits are already at the image's size
    mask_path = save_image(mask_to_palette_image(mask), out / f"{stem}.png")
    save_image(overlay(image, mask), out / f"{stem}_overlay.jpg", quality=90)
    if probabilities:
        for name, grey in zip(predictor.classes, probability_images(logits)):
            save_image(grey, out / f"{stem}_prob_{safe_name(name)}.png")
    return mask_path


def probability_images(logits: torch.Tensor) -> np.ndarray:
    """Logits (C, H, W) -> class probabilities as uint8 (K, H, W), 255 = 1.0: the softmax, or a binary
    model's 1 - σ and σ (runtime.outputs)."""
    return (class_probabilities(logits) * 255.0 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


def segmented_frames(predictor: Runtime, video: VideoReader, batch_size: int = 1, progress: bool = True,
                     desc: str = "", target: int | Sequence[int] | None = None) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """Every frame of `video` in order with its logits (C, H, W), or with `target` (a class id or
    several) its P(target) (H, W) (Runtime.target_probability_batch), `batch_size` frames at a time.

    The one frame loop of pixelseg: `predict_video` and `apply.video` both read their videos through it.
    """
    def segment(frames):
        return predictor.logits_batch(frames) if target is None else predictor.target_probability_batch(frames, target)

    with tqdm(total=video.info.frames, desc=desc, disable=not progress, unit="frame") as bar:
        for frames in _frame_batches(video, max(1, batch_size)):
            for frame, result in zip(frames, segment(frames)):  # logits (C, H, W) or P(target) (H, W)
                yield frame, result
                bar.update(1)


def _frame_batches(frames: Iterable[np.ndarray], batch_size: int) -> Iterator[list[np.ndarray]]:
    batch = []
    for frame in frames:
        batch.append(frame)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def predict_video(predictor: Runtime, path: Path, out: Path, progress: bool = True, probabilities: bool = False, batch_size: int = 1) -> Path:
    """Overlay video and per-frame masks (see the module docstring); returns the masks folder."""
    overlay_path, masks_path, *rest = video_outputs(out, path, probabilities)
    with VideoReader(path) as video, VideoWriter(overlay_path, video.info, audio_from=path if video.has_audio else None) as writer, \
            atomic_dir(masks_path) as masks_tmp, (atomic_dir(rest[0]) if rest else contextlib.nullcontext()) as probs_tmp:
        for index, (frame, logits) in enumerate(segmented_frames(predictor, video, batch_size, progress, desc=path.name)):
            mask = predictor.class_ids(logits).numpy()
            writer.write(overlay(frame, mask))
            mask_to_palette_image(mask).save(masks_tmp / f"{index:06d}.png")  # the folder is renamed whole
            if probs_tmp is not None:
                for name, grey in zip(predictor.classes, probability_images(logits)):
                    Image.fromarray(grey).save(probs_tmp / f"{index:06d}_{safe_name(name)}.png")
    return masks_path
