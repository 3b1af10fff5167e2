"""Logits for images larger than a network should see at once, and test-time augmentation (flip, scales).

`predict_logits(model, images, window=..., flip=True, scales=(0.75, 1, 1.25))` is the one entry point the evaluator, the
predictor and the apply effects share.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

MIN_SCALED_SIDE = 32   # the smallest side a scaled test-time copy gets (the models' minimum input)
MAX_SCALE = 4.0


def to_long_side(images: torch.Tensor, long_side: int | None, multiple: int | None = None) -> torch.Tensor:
    """(B, C, H, W) resized so that its longer side is `long_side` (aspect kept; antialiased when
    shrinking), or as it is when `long_side` is None/0 or already met: the network's input size a
    checkpoint records, applied the same way by prediction and by validation.

    multiple: each side rounded to the nearest multiple of this (at least one) after scaling, so a
    network of that stride has nothing to pad: a 640×480 frame at a long side of 224 is 224×160
    instead of 224×168, which the network pads to 224×192 (a seventh of its work on padding). The
    aspect changes by at most half a multiple per side."""
    height, width = images.shape[-2:]
    scale = long_side / max(height, width) if long_side else 1.0
    if multiple:
        size = tuple(max(multiple, multiple * math.floor(side * scale / multiple + 0.5)) for side in (height, width))
    else:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
    if size == (height, width):
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=size[0] < height or size[1] < width)


def _starts(length: int, window: int, stride: int) -> list[int]:
    """Window start positions covering [0, length): evenly stepped, the last one flush with the end."""
    if length <= window:
        return [0]
    count = math.ceil((length - window) / stride) + 1
    return [min(i * stride, length - window) for i in range(count)]


def sliding_window_logits(model, images: torch.Tensor, window: tuple[int, int], overlap: float = 0.25) -> torch.Tensor:
    """Run `model` on overlapping windows of `images` (B, 3, H, W) and average the logits where
    windows overlap. Returns (B, C, H, W). Images smaller than the window run in one piece."""
    height, width = images.shape[-2:]
    win_h, win_w = min(window[0], height), min(window[1], width)
    stride_h = max(1, int(win_h * (1 - overlap)))
    stride_w = max(1, int(win_w * (1 - overlap)))
    total = counts = None
    for top in _starts(height, win_h, stride_h):
        for left in _starts(width, win_w, stride_w):
            tile = model(images[..., top : top + win_h, left : left + win_w]).float()  # (B, C, h, w)
            if total is None:
                total = images.new_zeros((images.shape[0], tile.shape[1], height, width), dtype=torch.float32)
                counts = images.new_zeros((1, 1, height, width), dtype=torch.float32)
            total[..., top : top + win_h, left : left + win_w] += tile
            counts[..., top : top + win_h, left : left + win_w] += 1
    return total / counts


def predict_logits(model, images: torch.Tensor, window: tuple[int, int] | None = None, overlap: float = 0.25, flip: bool = False,
                   scales: Sequence[float] = (1.0,)) -> torch.Tensor:
    """Logits (B, C, H, W) at the input's size: whole image or sliding window, optionally averaged
    with the prediction on the horizontally flipped image (flipped back) and over `scales`
    (multi-scale test-time augmentation: the images resized by each factor, the logits resized back)."""
    size = images.shape[-2:]

    def once(x):
        out = sliding_window_logits(model, x, window, overlap) if window else model(x).float()
        if out.shape[-2:] != size:  # a smaller output, or another scale: back to the input's size before any argmax
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out

    total = None
    for scale in scales:
        x = images if scale == 1 else F.interpolate(images, size=scaled_size(size, scale), mode="bilinear", align_corners=False,
                                                     antialias=scale < 1)
        logits = once(x)
        if flip:
            logits = (logits + once(x.flip(-1)).flip(-1)) / 2
        total = logits if total is None else total + logits
    return total if len(scales) == 1 else total / len(scales)


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """(H, W) times `scale`, rounded, at least MIN_SCALED_SIDE: a network needs some pixels to pool."""
    return tuple(max(MIN_SCALED_SIDE, round(side * scale)) for side in size)


def check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """Test-time scales as a tuple; ValueError unless there is at least one and each is in (0, 4]."""
    scales = tuple(float(s) for s in scales)
    if not scales or any(not 0 < s <= MAX_SCALE for s in scales):
        raise ValueError(f"test-time scales must be factors in (0, {MAX_SCALE:g}], e.g. 0.75,1,1.25; got {','.join(map(str, scales)) or 'none'}")
    return scales
