"""Temporal smoothing of a probability map across video frames, against flicker at uncertain edges.

    fixed    p̄ₜ = s·p̄ₜ₋₁ + (1 − s)·pₜ everywhere: steady, but a moving edge trails by about
             s / (1 − s) frames (one frame at s = 0.5), a ghost of the person where they were.
    motion   the same average with a weight per pixel, sₓ = s·clip((HIGH − dₓ) / (HIGH − LOW), 0, 1),
             where dₓ is how much the picture changed there since the last frame (the luma of the
             per-channel difference, so a change of colour at equal brightness counts too; averaged
             over a few pixels, which keeps camera noise low and spreads an edge's change to the
             pixels around it): where the picture is still the average is as steady as `fixed`; where it
             moved (an edge passing, a hand waving) the new prediction is taken as it is, so there is
             no trail. Flicker is the model changing its mind about a pixel that did not change, which
             is exactly what the average still removes.

Both are callables `smoother(p, image) -> p̄` on (H, W) float32 with state, and `reset()`; `motion`
needs the frame (H, W, 3) uint8 the probabilities are of (without it, it averages like `fixed`).
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageChops, ImageFilter

SMOOTHING_MODES = ("motion", "fixed")
DEFAULT_SMOOTHING_MODE = "motion"
# Changes (in levels of 255, averaged over the box) up to LOW are a still picture's noise: full
# averaging there; from HIGH up, motion: none. A webcam's noise averages 2-4 levels; a person's edge
# passing over a pixel changes it by tens.
STILL_LEVELS, MOVING_LEVELS = 5.0, 15.0
# The box the frame difference is averaged over: radius in pixels.
MOTION_SPREAD = 2


class FixedAverage:
    """p̄ₜ = s·p̄ₜ₋₁ + (1 − s)·pₜ, the same weight everywhere."""

    def __init__(self, smoothing: float):
        self.smoothing = smoothing
        self.average: np.ndarray | None = None

    def reset(self) -> None:
        self.average = None

    def weight(self, image: np.ndarray | None) -> float | np.ndarray:
        return self.smoothing

    def __call__(self, p: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
        weight = self.weight(image)                                              # scalar or (H, W)
        if self.average is None or self.average.shape != p.shape:
            self.average = p.astype(np.float32, copy=True)
        else:
            self.average = weight * self.average + (1.0 - weight) * p
        return self.average


class MotionAverage(FixedAverage):
    """The average weighted per pixel by how still the picture is there (see the module docstring)."""

    def __init__(self, smoothing: float):
        super().__init__(smoothing)
        self.previous: Image.Image | None = None  # the last frame

    def reset(self) -> None:
        super().reset()
        self.previous = None

    def weight(self, image: np.ndarray | None) -> float | np.ndarray:
        if image is None:
            return self.smoothing
        frame = Image.fromarray(np.ascontiguousarray(image[..., :3]))
        previous, self.previous = self.previous, frame
        if previous is None or previous.size != frame.size:
            return self.smoothing
        # |Δr|, |Δg|, |Δb| -> their luma -> a box blur: all in PIL's C code, ~1 ms at 640×480.
        change = ImageChops.difference(frame, previous).convert("L").filter(ImageFilter.BoxBlur(MOTION_SPREAD))
        weight = np.asarray(change, dtype=np.float32)                                   # (H, W) levels
        weight -= MOVING_LEVELS
        weight *= -self.smoothing / (MOVING_LEVELS - STILL_LEVELS)
        return np.clip(weight, 0.0, self.smoothing, out=weight)


def smoother(mode: str, smoothing: float) -> FixedAverage:
    """The smoother for `mode` ("motion" or "fixed") at weight `smoothing` of the past."""
    if mode not in SMOOTHING_MODES:
        raise ValueError(f"smoothing mode must be one of {', '.join(SMOOTHING_MODES)}, got {mode!r}")
    return MotionAverage(smoothing) if mode == "motion" else FixedAverage(smoothing)
