"""Edges that follow the photo: class probabilities refined at full resolution by a guided filter.

The network scores a small copy of the image (320 px on the long side for the person model) and its
probabilities, resized back, are blurry at the edges. The guided filter (He, Sun & Tang, 2013) fits,
in every window, the probability as a linear function of the image's brightness, p ≈ a·I + b: where
the window holds an edge of the photo the probability's step is put on it, where the photo is flat
the probability is left as it was. Its fast form (He & Sun, 2015) fits a, b on the small copy and
only upsamples them, so the full-resolution work is one multiply-add per pixel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from pixelseg.runtime.outputs import class_probabilities, logits_from_probabilities

REFINEMENTS = ("none", "guided")
RADIUS = 4     # window half-side, pixels of the network's input
EPS = 1e-3     # regulariser: brightness steps below about sqrt(EPS) = 3% are not followed (1e-3 scored best of 1e-2, 1e-3 on human_seg val)


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over the (2r+1)² window around each pixel of (B, C, H, W); windows cut by the border
    average what they hold. Running sums along rows, then columns: a few operations per pixel
    whatever the radius (avg_pool2d was ~7 ms per map at 240×320 on one core). The sums are
    extended by r copies of their first and last value, so every window's sum is the difference
    of two slices (views): half the time of gathering each window's ends with index_select."""
    for dim in (-1, -2):
        n = x.shape[dim]
        sums = F.pad(x.cumsum(dim), (1, 0) if dim == -1 else (0, 0, 1, 0))     # sums[i] = x[:i].sum()
        extended = F.pad(sums, (radius, radius, 0, 0) if dim == -1 else (0, 0, radius, radius), mode="replicate")
        index = torch.arange(n, device=x.device, dtype=x.dtype)
        count = (index + radius + 1).clamp(max=n) - (index - radius).clamp(min=0)  # pixels in each window
        shape = (n, 1) if dim == -2 else (n,)
        x = (extended.narrow(dim, 2 * radius + 1, n) - extended.narrow(dim, 0, n)) / count.view(shape)
    return x


def grey(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8 RGB -> (B, 1, H, W) float32 luma in [0, 1] (ITU-R BT.601 weights).

    A product with the weights over the channels as they lie in memory: images come from (H, W, 3)
    frames, so channels are the last dimension there, and this is ~6× faster at 640×480 than
    weighting and summing the channel planes of the permuted view."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=images.device) / 255
    return (images.permute(0, 2, 3, 1).float() @ weights).unsqueeze(1)


def guided_upsample(guide_low: torch.Tensor, source_low: torch.Tensor, guide_high: torch.Tensor,
                    radius: int = RADIUS, eps: float = EPS) -> torch.Tensor:
    """Fast guided filter: `source_low` (B, C, h, w) guided by `guide_low` (B, 1, h, w), its output
    at the size of `guide_high` (B, 1, H, W) -> (B, C, H, W)."""
    mean_i = box_mean(guide_low, radius)                                       # (B, 1, h, w)
    mean_p = box_mean(source_low, radius)                                      # (B, C, h, w)
    covariance = box_mean(guide_low * source_low, radius) - mean_i * mean_p
    variance = box_mean(guide_low * guide_low, radius) - mean_i * mean_i
    a = covariance / (variance + eps)
    b = mean_p - a * mean_i
    size = guide_high.shape[-2:]
    a = F.interpolate(box_mean(a, radius), size=size, mode="bilinear", align_corners=False)  # (B, C, H, W)
    b = F.interpolate(box_mean(b, radius), size=size, mode="bilinear", align_corners=False)
    return a * guide_high + b


def refined_log_probabilities(logits_low: torch.Tensor, images_low: torch.Tensor, images_high: torch.Tensor,
                              radius: int = RADIUS, eps: float = EPS) -> torch.Tensor:
    """Logits (B, C, h, w) of images (B, 3, h, w) uint8 -> logits (B, C, H, W) at the size of
    images_high (B, 3, H, W) uint8, refined along the photo's edges: log-probabilities (multiclass)
    or log-odds (binary, C = 1), so that class_probabilities gives the refined probabilities back
    and class_ids the refined mask (runtime.outputs)."""
    probabilities = class_probabilities(logits_low)                             # (B, K, h, w)
    refined = guided_upsample(grey(images_low), probabilities, grey(images_high), radius, eps)
    refined = refined.clamp_(min=1e-6)
    return logits_from_probabilities(refined / refined.sum(1, keepdim=True), logits_low.shape[1], eps=0.0)  # clamped above


def refined_probability(probability_low: torch.Tensor, images_low: torch.Tensor, images_high: torch.Tensor,
                        radius: int = RADIUS, eps: float = EPS) -> torch.Tensor:
    """One probability map (B, 1, h, w) of images (B, 3, h, w) uint8 -> (B, 1, H, W) in [0, 1] at the
    size of images_high (B, 3, H, W) uint8, refined along the photo's edges: what an effect's matte
    needs, one map instead of every class's (Runtime.target_probability_batch)."""
    return guided_upsample(grey(images_low), probability_low, grey(images_high), radius, eps).clamp_(0.0, 1.0)
