"""A light MobileNetV3-Small-style encoder (Howard et al., 2019) for the real-time model.

Its last blocks keep stride 16 and dilate instead (as the LR-ASPP paper does): 1/32 of a video
frame is too coarse for boundaries, and a dilated depthwise convolution costs the same."""
from __future__ import annotations

import torch
import torch.nn as nn

from pixelseg.nn.blocks import ConvNormAct
from pixelseg.nn.inverted_residual import InvertedResidual

MOBILENET_BASE_CHANNELS = 16

# MobileNetV3-Small's blocks, one tuple per output stage (reductions 4, 8, 16):
# (kernel, expansion width, output width, stride, dilation, squeeze-excite, hardswish); widths for base 16.
_STAGES = (
    ((3, 16, 16, 2, 1, True, False),),
    ((3, 72, 24, 2, 1, False, False), (3, 88, 24, 1, 1, False, False)),
    (
        (5, 96, 40, 2, 1, True, True), (5, 240, 40, 1, 1, True, True), (5, 240, 40, 1, 1, True, True),
        (5, 120, 48, 1, 1, True, True), (5, 144, 48, 1, 1, True, True),
        (5, 288, 96, 1, 2, True, True), (5, 576, 96, 1, 2, True, True), (5, 576, 96, 1, 2, True, True),
    ),
)
_LAST_EXPANSION = 576


class MobileNetEncoder(nn.Module):
    """Stride-2 stem and three stages of inverted residual blocks, the last one closed by a 1×1
    expansion. Feature maps at reductions 2, 4, 8, 16.

    (B, in_channels, H, W) -> [(B, channels[i], H / reductions[i], W / reductions[i])].
    """

    def __init__(self, in_channels: int = 3, base_channels: int = MOBILENET_BASE_CHANNELS):
        super().__init__()

        def width(channels_at_16: int) -> int:  # scaled, and kept a multiple of 8 for the vector units
            return max(8, round(channels_at_16 * base_channels / 16 / 8) * 8)

        self.stem = ConvNormAct(in_channels, width(16), 3, stride=2, act=nn.Hardswish)
        self.channels, self.reductions = [width(16)], [2]
        stages, width_in = [], width(16)
        for blocks in _STAGES:
            layers = []
            for kernel, expand, out, stride, dilation, se, hardswish in blocks:
                act = nn.Hardswish if hardswish else nn.ReLU
                layers.append(InvertedResidual(width_in, width(expand), width(out), kernel, stride, dilation, se, act))
                width_in = width(out)
            stages.append(nn.Sequential(*layers))
            self.channels.append(width_in)
            self.reductions.append(self.reductions[-1] * 2)
        stages[-1].append(ConvNormAct(width_in, width(_LAST_EXPANSION), 1, act=nn.Hardswish))
        self.channels[-1] = width(_LAST_EXPANSION)
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)  # (B, c0, H/2, W/2)
        features = [x]
        for stage in self.stages:
            x = stage(x)  # (B, c_i, H / 2^(i+1), W / 2^(i+1))
            features.append(x)
        return features


def mobilenet_encoder(in_channels: int = 3, pretrained: bool = False, base_channels: int | None = None) -> MobileNetEncoder:
    """The built-in light encoder. It has no published weights: for a pretrained one use
    `encoder="timm:mobilenetv3_small_100"`."""
    if pretrained:
        raise ValueError("the built-in mobilenet encoder has no pretrained weights; use encoder='timm:mobilenetv3_small_100'")
    return MobileNetEncoder(in_channels, base_channels or MOBILENET_BASE_CHANNELS)
