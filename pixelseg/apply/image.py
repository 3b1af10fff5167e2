"""One photo through an effect, as `pixelseg apply` and the server's /api/apply both run it: the
model's probability of the target -> `Matte` (alpha) -> `Effect`, then encoded. One path, so the same
photo, effect and options give the same bytes from the command, the API and the page.

    effect, matte = Effect("blur"), Matte(target=1, feather=DEFAULT_FEATHER, solid=DEFAULT_SOLID)
    png = encode(apply_image(predictor, effect, matte, image))
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from pixelseg.apply.effects import Effect
from pixelseg.apply.matte import Matte
from pixelseg.apply.smoothing import DEFAULT_SMOOTHING_MODE  # noqa: F401  (video: average only where the picture is still)

# The options' defaults, for the command's flags and the API's form fields alike.
DEFAULT_STRENGTH = 15.0   # blur: Gaussian radius in pixels
DEFAULT_FEATHER = 2.0     # the alpha's edge blur, pixels
DEFAULT_SOLID = 0.2       # probabilities within this of 1 or 0 become exactly 1 or 0
DEFAULT_SMOOTHING = 0.5   # video: weight of the past in the moving average


def apply_probabilities(effect: Effect, matte: Matte, image: np.ndarray, probabilities) -> np.ndarray:
    """The effect on an RGB image (H, W, 3) uint8 given its class probabilities (C, H, W)."""
    return effect(image, matte(probabilities, image))


def apply_image(predictor, effect: Effect, matte: Matte, image: np.ndarray) -> np.ndarray:
    """The effect on one RGB image (H, W, 3) uint8: RGB out, or RGBA (H, W, 4) for a cut-out."""
    return apply_target_probability(effect, matte, image, predictor.target_probability(image, matte.target))


def apply_target_probability(effect: Effect, matte: Matte, image: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The effect on an RGB image (H, W, 3) uint8 given P(target) (H, W), as Runtime.target_probability gives it."""
    return effect(image, matte.alpha(p, image))


def save_options(suffix: str) -> dict:
    """What PIL is told when it writes a result with this suffix (.png: fast zlib, .jpg/.webp: quality 95)."""
    suffix = suffix.lower()
    if suffix == ".png":
        return {"compress_level": 3}
    if suffix in (".jpg", ".jpeg", ".webp"):
        return {"quality": 95}
    return {}


def encode(image: np.ndarray, suffix: str = ".png") -> bytes:
    """A result as the bytes of an image file (PNG by default), exactly as `pixelseg apply` writes it."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=Image.registered_extensions()[suffix.lower()], **save_options(suffix))
    return buffer.getvalue()
