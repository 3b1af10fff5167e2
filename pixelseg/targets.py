"""Targets in both forms: index masks (B, H, W) of class ids, and one-hot maps (B, C, H, W).

Pixels marked `ignore_index` (255 by convention) belong to no class: all-zero in one-hot form."""
from __future__ import annotations

import torch

IGNORE_INDEX = 255


def to_one_hot(mask: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """(B, H, W) integer mask -> (B, num_classes, H, W) float one-hot; `ignore_index` pixels all zero."""
    if mask.dtype.is_floating_point or mask.dim() != 3:
        raise ValueError(f"expected an integer mask of shape (B, H, W), got {tuple(mask.shape)} {mask.dtype}")
    ignored = mask == ignore_index
    invalid = ~ignored & ((mask < 0) | (mask >= num_classes))
    if invalid.any():
        raise ValueError(f"mask holds class {mask[invalid][0].item()} outside 0..{num_classes - 1} (and is not ignore_index {ignore_index})")
    index = mask.masked_fill(ignored, 0).long().unsqueeze(1)                                  # (B, 1, H, W)
    onehot = torch.zeros(mask.shape[0], num_classes, *mask.shape[1:], device=mask.device)    # (B, C, H, W)
    onehot.scatter_(1, index, 1.0)
    return onehot.masked_fill_(ignored.unsqueeze(1), 0.0)


def from_one_hot(onehot: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """(B, C, H, W) one-hot (or scores) -> (B, H, W) long mask by argmax; all-zero pixels -> `ignore_index`."""
    if onehot.dim() != 4:
        raise ValueError(f"expected a one-hot map of shape (B, C, H, W), got {tuple(onehot.shape)}")
    mask = onehot.argmax(dim=1)                                                               # (B, H, W)
    return mask.masked_fill_((onehot == 0).all(dim=1), ignore_index)
