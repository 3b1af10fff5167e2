"""Colours for classes, and masks as pictures."""
from __future__ import annotations

import numpy as np
from PIL import Image


def make_palette(num_colors: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map (uint8, (num_colors, 3)): class 0 black, then well-separated colours.

    Built from the bits of the class index, so it extends to any number of classes; index 255
    (ignore) is set to white so ignored pixels stand out.
    """
    palette = np.zeros((num_colors, 3), dtype=np.uint8)
    for index in range(num_colors):
        c, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette[index] = (r, g, b)
    if num_colors > 255:
        palette[255] = (255, 255, 255)
    return palette


PALETTE = make_palette()


def mask_to_palette_image(mask: np.ndarray) -> Image.Image:
    """An index mask (H, W) uint8 as a palette ("P") PNG: the values stay class ids, viewers show colours."""
    image = Image.fromarray(mask.astype(np.uint8), mode="P")
    image.putpalette(PALETTE.reshape(-1).tolist())
    return image


def colorize(mask: np.ndarray) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8 colours."""
    return PALETTE[mask]


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend class colours over an RGB image (H, W, 3) uint8; background (0) and ignore (255) stay clear."""
    colours = colorize(mask).astype(np.float32)
    blend = image.astype(np.float32)
    paint = ((mask != 0) & (mask != 255))[..., None]
    blend = np.where(paint, (1 - alpha) * blend + alpha * colours, blend)
    return (blend + 0.5).astype(np.uint8)
