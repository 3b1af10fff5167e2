"""The effects, as plain functions on numpy arrays. Compositing is `alpha·image + (1 − alpha)·other`,
so where the mask is exactly 1 the image's pixels are kept exactly, and where it is 0 the other
layer's pixels are taken exactly; soft (feathered) edges blend in between."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageFilter
from torchvision.transforms.v2.functional import gaussian_blur

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


def _composite(image: np.ndarray, other: np.ndarray, mask: np.ndarray) -> np.ndarray:
    alpha = _alpha(mask, image.shape[:2])
    out = alpha * image.astype(np.float32) + (1.0 - alpha) * other.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def feather(mask: np.ndarray, radius: float = 3.0, threshold: float | None = None) -> np.ndarray:
    """Soft edges: optionally threshold a probability map, then blur the alpha by `radius` pixels.

    Returns float32 alpha (H, W) in [0, 1]. With radius 0 the (thresholded) mask comes back as is.
    """
    alpha = _alpha(mask, np.asarray(mask).shape)[..., 0]
    if threshold is not None:
        alpha = (alpha >= threshold).astype(np.float32)
    if radius <= 0:
        return alpha
    kernel = 2 * int(np.ceil(3 * radius)) + 1  # ±3σ holds all but 0.3% of the Gaussian
    blurred = gaussian_blur(torch.from_numpy(alpha)[None], [kernel, kernel], [radius, radius])[0]
    return blurred.clamp(0.0, 1.0).numpy()


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
