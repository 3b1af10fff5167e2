"""One interface, several ways back up. A decoder asks for `make_upsample(mode, ...)` and gets a
module mapping (B, C_in, H, W) to (B, C_out, s·H, s·W) for the scale s (2 unless told).

Modes:
- ``transposed``   learned transposed convolution. In a decoder of features kernel = stride = s: the
                   kernels tile the output without overlapping, so no checkerboard from uneven
                   overlap. For class scores (FCN) kernel 2s initialised to bilinear interpolation;
- ``nearest`` / ``bilinear``  un-sampling: resize, then a 3×3 convolution (resize-convolution);
- ``pixelshuffle`` a 1×1 convolution to C_out·s² channels rearranged into space, ICNR-initialised so
                   that it starts as nearest-neighbour upsampling (no checkerboard at initialisation);
- ``unpool``       channels matched by a 3×3 convolution, then max-unpooling with the indices of
                   the matching max-pool.

Every module's forward is `forward(x, indices=None, output_size=None)`: only ``unpool`` needs the
indices; ``output_size`` lets resize and unpool land on an exact size.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from pixelseg.nn.blocks import ConvNormAct

UPSAMPLE_MODES = ("transposed", "nearest", "bilinear", "pixelshuffle", "unpool")


def bilinear_kernel(size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(size, size) kernel whose transposed convolution with stride size/2 is bilinear interpolation.

    The classic FCN initialisation: a tent 1 - |x - centre| / factor along each axis (also the
    transposed-convolution lesson's, in float64: transposed/upsampling.py).
    """
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    taps = 1 - (torch.arange(size, dtype=dtype) - center).abs() / factor
    return taps[:, None] * taps[None, :]


class TransposedUpsample(nn.Module):
    """Transposed convolution, (B, C_in, H, W) -> (B, C_out, sH, sW).

    With `bilinear_init` the kernel is 2s wide and starts as bilinear interpolation of each channel
    onto itself (FCN's learned upsampling); otherwise kernel = stride = s with default init.
    """

    def __init__(self, in_channels: int, out_channels: int, scale: int = 2, bilinear_init: bool = False):
        super().__init__()
        if bilinear_init:
            if scale % 2:
                raise ValueError(f"bilinear-initialised transposed convolution needs an even scale, got {scale}")
            self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2 * scale, stride=scale, padding=scale // 2)
            with torch.no_grad():
                self.up.weight.zero_()
                kernel = bilinear_kernel(2 * scale)
                for channel in range(min(in_channels, out_channels)):
                    self.up.weight[channel, channel] = kernel
                self.up.bias.zero_()
        else:
            self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=scale, stride=scale)

    def forward(self, x, indices=None, output_size=None):
        return self.up(x)


class ResizeConvUpsample(nn.Module):
    """Resize (nearest or bilinear), then a 3×3 convolution: (B, C_in, H, W) -> (B, C_out, sH, sW).

    `linear` leaves out the norm and ReLU, for class scores whose negative values must survive.
    """

    def __init__(self, in_channels: int, out_channels: int, scale: int = 2, mode: str = "nearest", linear: bool = False):
        super().__init__()
        self.scale, self.mode = scale, mode
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1) if linear else ConvNormAct(in_channels, out_channels, 3)

    def forward(self, x, indices=None, output_size=None):
        align = False if self.mode == "bilinear" else None
        if output_size is not None:
            x = F.interpolate(x, size=output_size, mode=self.mode, align_corners=align)
        else:
            x = F.interpolate(x, scale_factor=self.scale, mode=self.mode, align_corners=align)
        return self.conv(x)


def icnr_(weight: torch.Tensor, scale: int) -> torch.Tensor:
    """ICNR initialisation (Aitken et al., 2017): every group of scale² output channels that pixel
    shuffle spreads over one s×s block starts identical, so the block starts uniform."""
    out_channels, in_channels, kh, kw = weight.shape
    sub = torch.empty(out_channels // scale**2, in_channels, kh, kw)
    nn.init.kaiming_normal_(sub)
    with torch.no_grad():
        weight.copy_(sub.repeat_interleave(scale**2, dim=0))
    return weight


class PixelShuffleUpsample(nn.Module):
    """1×1 convolution to C_out·s² channels, then pixel shuffle: (B, C_in, H, W) -> (B, C_out, sH, sW)."""

    def __init__(self, in_channels: int, out_channels: int, scale: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels * scale**2, kernel_size=1)
        icnr_(self.conv.weight, scale)
        nn.init.zeros_(self.conv.bias)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x, indices=None, output_size=None):
        return self.shuffle(self.conv(x))


class UnpoolUpsample(nn.Module):
    """Max-unpooling puts each value back where the encoder's max-pool found it; zeros elsewhere.

    The indices come from pooling a map of `out_channels` channels, so the channels are matched
    first (a 3×3 convolution, skipped when they already agree, as in SegNet) and then unpooled:
    (B, C_in, H, W) -> (B, C_out, sH, sW).
    """

    def __init__(self, in_channels: int, out_channels: int, scale: int = 2):
        super().__init__()
        self.match = ConvNormAct(in_channels, out_channels, 3) if in_channels != out_channels else nn.Identity()
        self.unpool = nn.MaxUnpool2d(kernel_size=scale, stride=scale)

    def forward(self, x, indices=None, output_size=None):
        if indices is None:
            raise ValueError("upsample='unpool' needs the pooling indices of the matching encoder stage")
        return self.unpool(self.match(x), indices, output_size=output_size)


def make_upsample(mode: str, in_channels: int, out_channels: int, scale: int = 2, scores: bool = False) -> nn.Module:
    """Module mapping (B, in_channels, H, W) -> (B, out_channels, scale·H, scale·W).

    `scores`: the input is class scores (FCN), not features: convolutions stay linear and the
    transposed convolution starts as bilinear interpolation. Unpooling has no indices for scores.
    """
    if mode == "transposed":
        return TransposedUpsample(in_channels, out_channels, scale, bilinear_init=scores)
    if mode in ("nearest", "bilinear"):
        return ResizeConvUpsample(in_channels, out_channels, scale, mode, linear=scores)
    if mode == "pixelshuffle":
        return PixelShuffleUpsample(in_channels, out_channels, scale)
    if mode == "unpool":
        if scores:
            raise ValueError("upsample='unpool' needs pooled features of the same width; class scores have none")
        return UnpoolUpsample(in_channels, out_channels, scale)
    raise ValueError(f"unknown upsample mode {mode!r}; choose one of {', '.join(UPSAMPLE_MODES)}")
