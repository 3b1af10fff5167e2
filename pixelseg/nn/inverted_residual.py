"""The inverted residual block of MobileNetV2/V3 (Sandler et al., 2018; Howard et al., 2019)."""
from __future__ import annotations

import torch
import torch.nn as nn

from pixelseg.nn.blocks import ConvNormAct
from pixelseg.nn.squeeze_excite import SqueezeExcite


class InvertedResidual(nn.Module):
    """1×1 expansion -> k×k depthwise -> optional squeeze-excite -> linear 1×1 projection, plus the
    identity when the shape is kept. The projection has no activation: a ReLU on the narrow
    output would destroy information the next block cannot get back.

    (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride).
    """

    def __init__(
        self, in_channels: int, expand_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
        dilation: int = 1, se: bool = False, act: type[nn.Module] = nn.ReLU,
    ):
        super().__init__()
        layers = []
        if expand_channels != in_channels:
            layers.append(ConvNormAct(in_channels, expand_channels, 1, act=act))
        layers.append(ConvNormAct(expand_channels, expand_channels, kernel_size, stride, dilation, groups=expand_channels, act=act))
        if se:
            layers.append(SqueezeExcite(expand_channels, _round8(expand_channels // 4)))
        layers.append(ConvNormAct(expand_channels, out_channels, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.residual else out


def _round8(channels: int) -> int:
    """Nearest multiple of 8 (at least 8): vector units work on whole groups of channels."""
    return max(8, (channels + 4) // 8 * 8)
