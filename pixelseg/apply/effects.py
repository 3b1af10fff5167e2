"""The effects, as plain functions on numpy arrays. Compositing is `alpha·image + (1 − alpha)·other`,
so where the mask is exactly 1 the image's pixels are kept exactly, and where it is 0 the other
layer's pixels are taken exactly; soft (feathered) edges blend in between."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

# The effects by name, written once: `pixelseg apply EFFECT`, /api/apply's `effect` and the page's
# buttons (from GET /api/model) all take them from here. name -> (the page's label, what it does).
EFFECTS = {
    "replace": ("Replace background", "replace the background with an image or a colour #RRGGBB (the video-call virtual background)"),
    "blur": ("Blur", "blur the background (strength: a Gaussian radius in pixels)"),
    "retain-color": ("Retain colour", "the target keeps its colours, everything else turns grey"),
    "cutout": ("Cut-out", "the target alone on a transparent background (RGBA: .png photos; .webm/.mov/.mkv videos)"),
}

# ITU-R BT.601 luma weights: how bright each primary looks.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _alpha(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Any mask (bool, 0/1 or 0/255 uint8, float in [0, 1]) as float32 alpha (H, W, 1)."""
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"mask is {mask.shape[1]}×{mask.shape[0]} but the image is {shape[1]}×{shape[0]} (W×H)")
    if mask.dtype == bool:
        alpha = mask.astype(np.float32)
    elif np.issubdtype(mask.dtype, np.integer):
        alpha = mask.astype(np.float32) / (255.0 if mask.max(initial=0) > 1 else 1.0)
    else:
        alpha = np.clip(mask.astype(np.float32), 0.0, 1.0)
    return alpha[..., None]


def _alpha8(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Any mask as uint16 alpha levels 0..255, (H, W, 1); the integer twin of `_alpha`."""
    mask = np.asarray(mask)
    if mask.dtype == bool or not np.issubdtype(mask.dtype, np.integer):
        if mask.shape != shape:
            _alpha(mask, shape)  # raises the size message
        if mask.dtype == bool:
            return (mask.astype(np.uint16) * 255)[..., None]
        scaled = mask.astype(np.float32) * 255.0
        scaled += 0.5
        np.clip(scaled, 0.0, 255.0, out=scaled)
        return scaled.astype(np.uint16)[..., None]
    return np.rint(_alpha(mask, shape) * 255.0).astype(np.uint16)


def _composite(image: np.ndarray, other: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """alpha·image + (1 − alpha)·other, rounded, with alpha in 1/255 steps.

    Integer arithmetic (uint16, exact) instead of float32, one colour plane at a time: broadcasting
    an (H, W, 1) alpha over the 3 interleaved channels is ~4× slower in numpy, and this runs on every
    frame of a video. Rounding x / 255 as (x + 128 + ((x + 128) >> 8)) >> 8, equal to it for every
    x ≤ 255·255 and cheaper than a division. Exact at the ends: alpha 1 gives image's pixels, alpha
    0 other's.
    """
    a = _alpha8(mask, image.shape[:2])[..., 0]                                # (H, W) in 0..255
    inverse = 255 - a
    out = np.empty(image.shape, dtype=np.uint8)
    for channel in range(image.shape[2]):
        x = image[..., channel].astype(np.uint16) * a                         # ≤ 255·255: fits uint16
        x += other[..., channel].astype(np.uint16) * inverse
        x += 128
        x += x >> 8
        x >>= 8
        out[..., channel] = x
    return out


def feather(mask: np.ndarray, radius: float = 3.0, threshold: float | None = None) -> np.ndarray:
    """Soft edges: optionally threshold a probability map, then blur the alpha by `radius` pixels.

    Returns float32 alpha (H, W) in [0, 1]. With radius 0 the (thresholded) mask comes back as is.
    The blur runs on the alpha as 8 bits (PIL's Gaussian, σ = radius): 1/255 steps are finer than
    the composite's own uint8 output can show, and it is ~5× faster than a float convolution — it
    runs on every video frame. Where the mask is 1 (or 0) all around, alpha stays exactly 1 (or 0).
    """
    alpha = _alpha(mask, np.asarray(mask).shape)[..., 0]
    if threshold is not None:
        alpha = (alpha >= threshold).astype(np.float32)
    if radius <= 0:
        return alpha
    levels = Image.fromarray(np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    return np.asarray(levels.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) * (1.0 / 255.0)


def parse_color(text: str) -> tuple[int, int, int]:
    """'#RRGGBB' (or 'RRGGBB') -> (r, g, b)."""
    value = text.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"colour {text!r} is not #RRGGBB")
    try:
        return tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        raise ValueError(f"colour {text!r} is not #RRGGBB") from None


def _background_layer(background, height: int, width: int) -> np.ndarray:
    if isinstance(background, str):
        background = parse_color(background)
    if isinstance(background, (tuple, list)) and len(background) == 3:
        return np.broadcast_to(np.array(background, dtype=np.uint8), (height, width, 3))
    background = np.asarray(background)
    if background.ndim != 3 or background.shape[2] not in (3, 4):
        raise ValueError(f"background must be an RGB image, a colour or '#RRGGBB', got an array of shape {background.shape}")
    if background.shape[:2] != (height, width):
        # Cover the frame like CSS `object-fit: cover`: scale to fill, crop the centre, never stretch.
        bg = Image.fromarray(background[..., :3])
        scale = max(width / bg.width, height / bg.height)
        bg = bg.resize((max(width, round(bg.width * scale)), max(height, round(bg.height * scale))), Image.BILINEAR)
        left, top = (bg.width - width) // 2, (bg.height - height) // 2
        background = np.asarray(bg.crop((left, top, left + width, top + height)))
    return background[..., :3]


def replace_background(image: np.ndarray, mask: np.ndarray, background) -> np.ndarray:
    """The video-call virtual background: target pixels from `image`, the rest from `background`
    (an RGB image of any size, an (r, g, b) tuple or '#RRGGBB')."""
    height, width = image.shape[:2]
    return _composite(image, _background_layer(background, height, width), mask)


def blur_background(image: np.ndarray, mask: np.ndarray, strength: float = 15.0) -> np.ndarray:
    """Background blur: a Gaussian blur of radius `strength` pixels everywhere but the target."""
    blurred = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(strength)))
    return _composite(image, blurred, mask)


def retain_color(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Colour retention: the target keeps its colours, everything else turns grey (R = G = B)."""
    gray = (image.astype(np.float32) @ LUMA + 0.5).clip(0, 255).astype(np.uint8)
    return _composite(image, np.repeat(gray[..., None], 3, axis=2), mask)


def cutout(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """An RGBA image (H, W, 4) whose alpha is the target's mask (0..255)."""
    alpha = _alpha(mask, image.shape[:2])[..., 0]
    return np.dstack([image[..., :3], np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)])


class Effect:
    """An effect with its settings, as the loops call it: `effect(image, alpha) -> image`.

    `rgba` says whether it returns RGBA (cutout), which decides the output formats it can go into.
    A background image is fitted to a frame size once and reused for every frame of that size.
    """

    NAMES = tuple(EFFECTS)

    def __init__(self, name: str, background=None, strength: float = 15.0):
        if name not in self.NAMES:
            raise ValueError(f"unknown effect {name!r}; choose one of {', '.join(self.NAMES)}")
        if name == "replace" and background is None:
            raise ValueError("the replace effect needs a background: an image, (r, g, b) or '#RRGGBB'")
        if name == "blur" and not strength > 0:
            raise ValueError(f"blur strength must be positive, got {strength}")
        if isinstance(background, str):
            background = parse_color(background)  # a bad colour fails now, not at the first frame
        self.name, self.background, self.strength = name, background, strength
        self.rgba = name == "cutout"
        self._fitted: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        if self.name == "replace":
            height, width = image.shape[:2]
            if (height, width) not in self._fitted:
                self._fitted = {(height, width): _background_layer(self.background, height, width)}
            return _composite(image, self._fitted[(height, width)], alpha)
        if self.name == "blur":
            return blur_background(image, alpha, self.strength)
        if self.name == "retain-color":
            return retain_color(image, alpha)
        return cutout(image, alpha)

    def __repr__(self) -> str:
        return f"Effect({self.name!r})"
