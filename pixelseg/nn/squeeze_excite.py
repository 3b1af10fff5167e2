"""Squeeze-and-excitation (Hu et al., 2018), in MobileNetV3's form with a hard-sigmoid gate."""
from __future__ import annotations

import torch
import torch.nn as nn


class SqueezeExcite(nn.Module):
    """Reweights channels by a gate computed from their global average.

    (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, reduced_channels: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced_channels, 1)
        self.relu = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(reduced_channels, channels, 1)
        self.gate = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)                             # (B, C, 1, 1)
        return x * self.gate(self.expand(self.relu(self.reduce(scale))))
