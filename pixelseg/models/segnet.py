"""SegNet (Badrinarayanan, Kendall & Cipolla, 2017): a VGG-16 encoder whose max-pools keep the
position of each maximum, and a mirrored decoder that max-unpools with those indices, putting every
value back where it came from, then densifies the sparse map with convolutions. Boundaries come
back without storing encoder features, only the indices."""
from __future__ import annotations

import torch
import torch.nn as nn

from pixelseg.models.encoders.vgg import VGG_BASE_CHANNELS, VGG_LAYERS, vgg_encoder
from pixelseg.models.registry import register_model
from pixelseg.nn.blocks import ConvNormAct
from pixelseg.nn.padding import crop_to, pad_to_multiple
from pixelseg.nn.upsample import UPSAMPLE_MODES, make_upsample

# Unpooling is SegNet; the other modes are there to compare against it.
SEGNET_UPSAMPLE_MODES = ("unpool", *(mode for mode in UPSAMPLE_MODES if mode != "unpool"))


class SegNetDecoderStage(nn.Module):
    """Upsample ×2 (unpool with the matching pool's indices), then `count` 3×3 ConvNormAct.

    (B, in_channels, h, w) -> (B, out_channels, 2h, 2w).
    """

    def __init__(self, in_channels: int, out_channels: int, count: int, upsample: str):
        super().__init__()
        self.up = make_upsample(upsample, in_channels, in_channels)
        widths = [in_channels] * count + [out_channels]
        self.convs = nn.Sequential(*(ConvNormAct(widths[i], widths[i + 1]) for i in range(count)))

    def forward(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return self.convs(self.up(x, indices=indices))


class SegNet(nn.Module):
    """SegNet with a choice of decoder upsampling.

    Args:
        num_classes: score maps produced.
        in_channels: 1 (grayscale) or 3 (RGB).
        base_channels: width of the first VGG stage (64; the stages are base·(1, 2, 4, 8, 8)).
        layers: VGG configuration of the encoder, mirrored by the decoder ("vgg16" as in the paper).
        upsample: "unpool" (SegNet), or "transposed", "nearest", "bilinear", "pixelshuffle" to compare.
        pretrained: torchvision's ImageNet VGG-BN weights for the encoder (True or a file path).

    Shapes: (B, in_channels, H, W) -> (B, num_classes, H, W).
    """

    def __init__(
        self, num_classes: int, in_channels: int = 3, base_channels: int = VGG_BASE_CHANNELS, layers: str = "vgg16",
        upsample: str = "unpool", pretrained: bool | str = False,
    ):
        super().__init__()
        self.encoder = vgg_encoder(in_channels, pretrained, base_channels, layers)
        channels, counts = self.encoder.channels, VGG_LAYERS[layers]
        # Mirror of the encoder: stage k undoes pool k; the first stage's last convolution is the classifier below.
        self.decoder = nn.ModuleList(
            SegNetDecoderStage(channels[k], channels[max(k - 1, 0)], counts[k] - (k == 0), upsample) for k in reversed(range(len(channels)))
        )
        self.head = nn.Conv2d(channels[0], num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.encoder.reductions[-1])
        features, indices = self.encoder.forward_with_indices(x)  # pool5 at (B, c4, H/32, W/32)
        x = features[-1]
        for stage, index in zip(self.decoder, reversed(indices)):
            x = stage(x, index)                                      # (B, c_{k-1}, H / 2^k, W / 2^k)
        return crop_to(self.head(x), size)                           # (B, num_classes, H, W)


@register_model("segnet", upsample_modes=SEGNET_UPSAMPLE_MODES)
def segnet(num_classes: int, in_channels: int = 3, **options) -> SegNet:
    return SegNet(num_classes, in_channels, **options)
