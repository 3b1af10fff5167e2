"""An effect over every frame of a video: decode -> segment -> smooth -> composite -> encode.

The output has the input's frame count, size and frame rate (and its audio track when the container
takes it); see inference.video_io for how the encoder is chosen. Frames are segmented
`batch_size` at a time, composited in order, and the smoothing state runs across the whole video.
"""
from __future__ import annotations

from pathlib import Path

from pixelseg.apply.effects import Effect
from pixelseg.apply.image import apply_target_probability
from pixelseg.apply.matte import Matte
from pixelseg.inference.files import segmented_frames
from pixelseg.inference.predictor import Runtime
from pixelseg.inference.video_io import VideoReader, VideoWriter


def apply_video(predictor: Runtime, effect: Effect, matte: Matte, source: str | Path, out: str | Path,
                progress: bool = True, batch_size: int = 1) -> Path:
    """Write `effect` applied to every frame of `source` into `out` (written whole or not at all)."""
    source, out = Path(source), Path(out)
    matte.reset()
    with VideoReader(source) as video, VideoWriter(out, video.info, alpha=effect.rgba, audio_from=source if video.has_audio else None) as writer:
        for frame, p in segmented_frames(predictor, video, batch_size, progress, desc=source.name, target=matte.target):
            writer.write(apply_target_probability(effect, matte, frame, p.numpy()))
    return out
