"""A real-time model for video: LR-ASPP (Howard et al., 2019) on a light MobileNetV3-style encoder.

Scores are made at 1/8 of the input and resized bilinearly: a learned upsampling to full resolution
would cost about as much as the whole encoder, so this model has no `upsample=` option."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from pixelseg.models.encoders import create_encoder
from pixelseg.models.registry import register_model
from pixelseg.nn.lraspp import LRASPPHead
from pixelseg.nn.padding import crop_to, pad_to_multiple


class LRASPP(nn.Module):
    """Encoder -> LR-ASPP head on its 1/8 and deepest maps -> bilinear resize to the input.

    Args:
        num_classes: score maps produced.
        in_channels: 1 (grayscale) or 3 (RGB).
        encoder: "mobilenet" (built-in, light), another built-in encoder or "timm:<name>".
        base_channels: width of a built-in encoder (16 for mobilenet).
        pretrained: ImageNet weights for the encoder (True or a file path); not for "mobilenet".
        inter_channels: width of the head.

    Shapes: (B, in_channels, H, W) -> (B, num_classes, H, W).
    """

    def __init__(
        self, num_classes: int, in_channels: int = 3, encoder: str = "mobilenet", base_channels: int | None = None,
        pretrained: bool | str = False, inter_channels: int = 128,
    ):
        super().__init__()
        self.encoder = create_encoder(encoder, in_channels, pretrained, base_channels)
        if 8 not in self.encoder.reductions:
            raise ValueError(f"LR-ASPP needs a 1/8 feature map; encoder {encoder!r} gives reductions {self.encoder.reductions}")
        self.low_index = self.encoder.reductions.index(8)
        self.head = LRASPPHead(self.encoder.channels[self.low_index], self.encoder.channels[-1], num_classes, inter_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.encoder.reductions[-1])
        features = self.encoder(x)
        logits = self.head(features[self.low_index], features[-1])                         # (B, num_classes, H/8, W/8)
        logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)  # (B, num_classes, H, W)
        return crop_to(logits, size)


@register_model("lraspp")
def lraspp(num_classes: int, in_channels: int = 3, **options) -> LRASPP:
    return LRASPP(num_classes, in_channels, **options)
