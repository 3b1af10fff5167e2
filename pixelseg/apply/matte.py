"""From a model's class probabilities to the alpha an effect blends with (1 = keep the pixel).

    matte = Matte(target=predictor.class_index("person"), feather=2, smoothing=0.5)
    for frame in frames:
        alpha = matte.alpha(predictor.target_probability(frame, matte.target), frame)  # (H, W) float32 in [0, 1]
        out = replace_background(frame, alpha, "#00ff00")

Steps, in order: the target's probability; temporal smoothing across calls (video); an optional
threshold (a hard mask) or a solid core (probabilities within `solid` of 1 or 0 become exactly 1 or
0, the rest stretched between); feathering (soft edges).

Why a solid core: a probability of 0.93 inside the person lets 7% of the old background through a
virtual background, and 0.05 outside leaves a tint of colour in a grey background. The network is
uncertain only near the edge; away from it the alpha should say so: exactly 1 or 0.

Smoothing is an exponential moving average of the target's probability, p̄ₜ = s·p̄ₜ₋₁ + (1 − s)·pₜ:
per-frame predictions flicker at uncertain edges, and averaging before the threshold removes most
of that. With `smoothing_mode="fixed"` it costs a lag of about s / (1 − s) frames on moving edges
(1 frame at s = 0.5); "motion" (the default) averages only where the picture is still, so a moving
person leaves no trail (apply.smoothing; pass the frame: `matte(probabilities, frame)`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from pixelseg.apply.effects import feather as feather_alpha
from pixelseg.apply.smoothing import DEFAULT_SMOOTHING_MODE, smoother


def default_target(classes: list[str]) -> int:
    """"person" when the model has such a class, else class 1 (class 0 is usually the background)."""
    lowered = [name.lower() for name in classes]
    if "person" in lowered:
        return lowered.index("person")
    return 1 if len(classes) > 1 else 0


class Matte:
    """Callable: probabilities (C, H, W) (torch or numpy) -> alpha (H, W) float32; keeps the smoothing state.

    Args:
        target: the class id to keep, or several ids (their probabilities summed).
        threshold: None for soft alpha, or P for a hard mask p >= P.
        solid: soft alpha only: p >= 1 - solid gives 1, p <= solid gives 0, linear between
            (0 = the probability itself).
        feather: Gaussian blur radius in pixels of the final alpha (0 = none).
        smoothing: s in [0, 1) of the moving average across calls; 0 = every frame on its own.
        smoothing_mode: "motion" (average only where the frame is still) or "fixed" (everywhere).
    """

    def __init__(self, target: int | Sequence[int], threshold: float | None = None, feather: float = 2.0, smoothing: float = 0.0, solid: float = 0.0,
                 smoothing_mode: str = DEFAULT_SMOOTHING_MODE):
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be a probability in [0, 1], got {threshold}")
        if not 0.0 <= solid < 0.5:
            raise ValueError(f"solid must be in [0, 0.5), got {solid}")
        if feather < 0:
            raise ValueError(f"feather must be 0 or more pixels, got {feather}")
        self.target, self.threshold, self.feather, self.smoothing, self.solid = target, threshold, feather, smoothing, solid
        self._smoother = smoother(smoothing_mode, smoothing)

    def reset(self) -> None:
        """Forget the previous frames (a new video, a scene cut)."""
        self._smoother.reset()

    def __call__(self, probabilities, image: np.ndarray | None = None) -> np.ndarray:
        """Alpha (H, W) for class probabilities (C, H, W); `image` (H, W, 3), the frame they are of,
        lets the motion smoothing see where the picture moved."""
        if isinstance(probabilities, torch.Tensor):
            probabilities = probabilities.detach().float().cpu().numpy()
        probabilities = np.asarray(probabilities, dtype=np.float32)                      # (C, H, W)
        if np.ndim(self.target) == 0:
            p = probabilities[self.target]                                               # (H, W)
        else:
            p = np.minimum(probabilities[list(self.target)].sum(0), 1.0)
        return self.alpha(p, image)

    def alpha(self, p: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
        """Alpha (H, W) for the target's probability p (H, W) float32, as a runtime's
        target_probability gives it (the fast path: no other class's map is made)."""
        if self.smoothing:
            p = self._smoother(p, image)
        if self.solid and self.threshold is None:
            p = np.clip((p - self.solid) * (1.0 / (1.0 - 2.0 * self.solid)), 0.0, 1.0)
        return feather_alpha(p, self.feather, self.threshold)
