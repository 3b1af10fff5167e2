"""Small named blocks the networks are built from."""
from __future__ import annotations

import torch.nn as nn


class ConvNormAct(nn.Sequential):
    """Conv2d -> BatchNorm2d -> activation (ReLU unless told; None for none), the unit every
    encoder and decoder here stacks. `norm=False` leaves the BatchNorm out (the convolution then
    has a bias).

    (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1, groups: int = 1,
        act: type[nn.Module] | None = nn.ReLU, norm: bool = True,
    ):
        padding = dilation * (kernel_size - 1) // 2
        # No bias with a norm: the BatchNorm's shift replaces it.
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=not norm)]
        if norm:
            layers.append(nn.BatchNorm2d(out_channels))
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class DoubleConv(nn.Sequential):
    """Two 3×3 ConvNormAct, U-Net's basic stage. (B, in_channels, H, W) -> (B, out_channels, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None):
        mid_channels = mid_channels or out_channels
        super().__init__(ConvNormAct(in_channels, mid_channels), ConvNormAct(mid_channels, out_channels))
