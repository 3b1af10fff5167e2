"""U-Net (Ronneberger et al., 2015): a contracting encoder and an expanding decoder joined by skip
connections that concatenate encoder features into the decoder at each scale, so fine detail lost
by pooling comes back for the boundaries.

Widths are set for speed on a CPU, where a training step of the paper's layout (two full-width
convolutions on every level, both sides) takes over four times as long as this one:
- a convolution at full resolution costs four times the same one a level below, so the
  full-resolution level is a single convolution on each side, and narrow: on the encoder side it
  only carries edges to the last fusion (a 3×3 convolution of an RGB image sees 27 numbers;
  a quarter of the base width holds what it can find there), on the decoder side it is as wide
  as the scores need (see MIN_DECODER_WIDTH);
- the encoder keeps the paper's pair of 3×3 convolutions per level, the decoder fuses the
  concatenation with one (which saves a further sixth of the step).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from pixelseg.models.encoders import create_encoder
from pixelseg.models.registry import register_model
from pixelseg.nn.blocks import ConvNormAct, DoubleConv
from pixelseg.nn.padding import crop_to, pad_to_multiple
from pixelseg.nn.upsample import UPSAMPLE_MODES, make_upsample

# The 1×1 head's class scores are linear in the last decoder features; much fewer than 16 of them
# would limit which classes can be told apart (segmentation_models_pytorch's U-Net ends with 16 too).
MIN_DECODER_WIDTH = 16


class UNetEncoder(nn.Module):
    """U-Net's own contracting path: a full-resolution stem, then `depth` times max-pool -> DoubleConv.

    (B, in_channels, H, W) -> features at reductions 1, 2, ..., 2^depth with widths base/4 (the stem;
    at least 8, but not wider than base), base, 2·base, ..., base·2^(depth-1); H and W must divide
    by 2^depth. `stem_norm=False`: the stem without batch norm.
    """

    def __init__(self, in_channels: int = 3, base_channels: int = 32, depth: int = 4, stem_norm: bool = True):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.channels = [max(base_channels // 4, min(base_channels, 8))] + [base_channels * 2**i for i in range(depth)]
        self.reductions = [2**i for i in range(depth + 1)]
        self.stem = ConvNormAct(in_channels, self.channels[0], norm=stem_norm)
        self.stages = nn.ModuleList(DoubleConv(self.channels[i], self.channels[i + 1]) for i in range(depth))

    def forward_with_indices(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The features and, for all but the deepest, the argmax indices of the max-pool applied to it."""
        x = self.stem(x)                                       # (B, c0, H, W)
        features, indices = [x], []
        for stage in self.stages:
            x, index = F.max_pool2d(x, 2, return_indices=True)
            indices.append(index)
            x = stage(x)                                       # (B, c_{i+1}, H / 2^(i+1), W / 2^(i+1))
            features.append(x)
        return features, indices

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = [x]
        for stage in self.stages:
            x = stage(F.max_pool2d(x, 2))
            features.append(x)
        return features


class UNetDecoderStage(nn.Module):
    """Upsample to `up_channels`, concatenate the encoder's map of that scale (when there is one),
    fuse with a 3×3 ConvNormAct.

    (B, in_channels, h, w) [+ (B, skip_channels, s·h, s·w)] -> (B, out_channels, s·h, s·w).
    """

    def __init__(
        self, in_channels: int, up_channels: int, skip_channels: int, out_channels: int, scale: int, upsample: str, norm: bool = True,
    ):
        super().__init__()
        self.up = make_upsample(upsample, in_channels, up_channels, scale)
        self.fuse = ConvNormAct(up_channels + skip_channels, out_channels, norm=norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None, indices: torch.Tensor | None = None) -> torch.Tensor:
        x = self.up(x, indices=indices, output_size=None if skip is None else skip.shape[-2:])
        if skip is not None:
            x = torch.cat([x, skip], dim=1)  # (B, out + skip, s·h, s·w)
        return self.fuse(x)


class UNetDecoder(nn.Module):
    """The expanding path: from the deepest map up, one stage per shallower map, upsampling to that
    map's width (so unpooling finds the channels its indices came from) and fusing to that width, or
    to MIN_DECODER_WIDTH if more (but no wider than what comes from below). When the shallowest map is coarser than the input (pretrained
    encoders start at 1/2), ×2 stages without a skip, each half as wide, reach full resolution.

    [(B, channels[i], H / reductions[i], W / reductions[i])] -> (B, out_channels, H, W).
    `full_resolution_norm=False`: the stage that reaches full resolution fuses without batch norm.
    """

    def __init__(self, channels: list[int], reductions: list[int], upsample: str = "transposed", full_resolution_norm: bool = True):
        super().__init__()

        def norm_at(out_reduction: int) -> bool:
            return full_resolution_norm or out_reduction > 1

        stages, width = [], channels[-1]
        for i in reversed(range(len(channels) - 1)):
            scale = reductions[i + 1] // reductions[i]
            out = max(channels[i], min(MIN_DECODER_WIDTH, width))
            stages.append(UNetDecoderStage(width, channels[i], channels[i], out, scale, upsample, norm_at(reductions[i])))
            width = out
        self.skip_stages = nn.ModuleList(stages)
        tail, reduction = [], reductions[0]
        while reduction > 1:
            out = max(width // 2, MIN_DECODER_WIDTH)
            tail.append(UNetDecoderStage(width, out, 0, out, 2, upsample, norm_at(reduction // 2)))
            width, reduction = out, reduction // 2
        self.tail = nn.ModuleList(tail)
        self.out_channels = width

    def forward(self, features: list[torch.Tensor], indices: list[torch.Tensor] | None = None) -> torch.Tensor:
        x = features[-1]
        for i, stage in enumerate(self.skip_stages, start=2):
            x = stage(x, features[-i], None if indices is None else indices[1 - i])  # (B, c_skip, h_skip, w_skip)
        for stage in self.tail:
            x = stage(x)                                                             # (B, c / 2, 2h, 2w)
        return x


class UNet(nn.Module):
    """U-Net with a choice of encoder and of decoder upsampling.

    Args:
        num_classes: score maps produced.
        in_channels: 1 (grayscale) or 3 (RGB).
        base_channels: width after the first pooling of U-Net's own encoder (default 32); each pooling
            doubles it, the full-resolution stem has a quarter of it. With `encoder`, the width of a
            built-in encoder (default: its standard width).
        depth: poolings of the built-in encoder (the input is padded inside to a multiple of 2^depth).
        upsample: "transposed", "nearest", "bilinear", "pixelshuffle" or "unpool" (built-in encoder only).
        encoder: None for U-Net's own encoder, or a name for `create_encoder` ("resnet18", "timm:resnet18"...).
        pretrained: ImageNet weights for `encoder` (True or a file path).
        full_resolution_norm: False leaves batch norm out of the convolutions at the input's resolution
            (U-Net's own stem and the decoder's last fusion). There, on narrow maps, it costs more time
            than all the deeper levels' norms together (bench/models.py --profile).

    Shapes: (B, in_channels, H, W) -> (B, num_classes, H, W).
    """

    def __init__(
        self, num_classes: int, in_channels: int = 3, base_channels: int | None = None, depth: int = 4, upsample: str = "transposed",
        encoder: str | None = None, pretrained: bool | str = False, full_resolution_norm: bool = True,
    ):
        super().__init__()
        if encoder is None:
            if pretrained:
                raise ValueError("U-Net's own encoder has no pretrained weights; pass encoder='resnet18', 'vgg16' or 'timm:<name>'")
            self.encoder = UNetEncoder(in_channels, base_channels or 32, depth, stem_norm=full_resolution_norm)
        else:
            if upsample == "unpool":
                raise ValueError("upsample='unpool' needs U-Net's own encoder, whose pooling indices match the skips")
            self.encoder = create_encoder(encoder, in_channels, pretrained, base_channels)
        self.decoder = UNetDecoder(self.encoder.channels, self.encoder.reductions, upsample, full_resolution_norm)
        self.head = nn.Conv2d(self.decoder.out_channels, num_classes, kernel_size=1)  # the 1×1 conv scoring every class
        self.unpool = upsample == "unpool"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.encoder.reductions[-1])
        if self.unpool:
            features, indices = self.encoder.forward_with_indices(x)
        else:
            features, indices = self.encoder(x), None
        logits = self.head(self.decoder(features, indices))      # (B, num_classes, H', W')
        return crop_to(logits, size)


@register_model("unet", upsample_modes=UPSAMPLE_MODES)
def unet(num_classes: int, in_channels: int = 3, **options) -> UNet:
    return UNet(num_classes, in_channels, **options)
