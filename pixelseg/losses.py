"""Pixel-wise losses. Logits (B, C, H, W); targets index masks (B, H, W) with 255 = ignore."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from pixelseg.data.folder import IGNORE_INDEX


class CrossEntropyLoss(nn.Module):
    """Cross-entropy averaged over the non-ignored pixels, optionally class-weighted."""

    def __init__(self, weight: torch.Tensor | None = None, ignore_index: int = IGNORE_INDEX):
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), target, weight=self.weight, ignore_index=self.ignore_index)


def build_loss(name: str = "ce", weight: torch.Tensor | None = None, **options) -> nn.Module:
    if name == "ce":
        return CrossEntropyLoss(weight=weight, **options)
    raise ValueError(f"unknown loss {name!r}")
