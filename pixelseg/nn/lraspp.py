"""Lite R-ASPP segmentation head (Howard et al., 2019, "Searching for MobileNetV3")."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from pixelseg.nn.blocks import ConvNormAct


class LRASPPHead(nn.Module):
    """Deep features gated by their global context, upsampled to the shallow map and scored there
    together with the shallow features' own scores.

    (B, low_channels, h_low, w_low), (B, high_channels, h_high, w_high) -> (B, num_classes, h_low, w_low).
    """

    def __init__(self, low_channels: int, high_channels: int, num_classes: int, inter_channels: int = 128):
        super().__init__()
        self.branch = ConvNormAct(high_channels, inter_channels, 1)
        # The gate: a global average and a 1×1 convolution, a cheap stand-in for ASPP's image pooling.
        self.context = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high_channels, inter_channels, 1, bias=False), nn.Sigmoid())
        self.low_score = nn.Conv2d(low_channels, num_classes, 1)
        self.high_score = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        x = self.branch(high) * self.context(high)                                          # (B, inter, h_high, w_high)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)    # (B, inter, h_low, w_low)
        return self.low_score(low) + self.high_score(x)


class FineCorrection(nn.Module):
    """A residual correction of coarse scores from a shallower, finer feature map: the scores are
    upsampled to the fine map and a 3×3 convolution over [fine features, scores] adds what the
    coarse map could not place (edges, fingers, hair) — a U-Net skip at the cost of one thin layer.

    (B, num_classes, h, w), (B, fine_channels_in, H, W) -> (B, num_classes, H, W).
    """

    def __init__(self, fine_in_channels: int, num_classes: int, fine_channels: int = 32):
        super().__init__()
        self.reduce = ConvNormAct(fine_in_channels, fine_channels, 1)
        self.correct = nn.Conv2d(fine_channels + num_classes, num_classes, 3, padding=1)

    def forward(self, scores: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        scores = F.interpolate(scores, size=fine.shape[-2:], mode="bilinear", align_corners=False)  # (B, C, H, W)
        return scores + self.correct(torch.cat([self.reduce(fine), scores], dim=1))
