"""VGG-style encoder (Simonyan & Zisserman, 2015): five stages of 3×3 ConvNormAct, each closed by a
2×2 max-pool. FCN scores its pool3/pool4/pool5 outputs; SegNet keeps the pools' indices."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from pixelseg.models.encoders.weights import adapt_input_conv, torchvision_state_dict
from pixelseg.nn.blocks import ConvNormAct

# Convolutions per stage of each VGG configuration.
VGG_LAYERS = {"vgg11": (1, 1, 2, 2, 2), "vgg13": (2, 2, 2, 2, 2), "vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
VGG_BASE_CHANNELS = 64


class VGGEncoder(nn.Module):
    """Outputs of pool1..pool5, widths base·(1, 2, 4, 8, 8).

    (B, in_channels, H, W) -> [(B, channels[i], H / reductions[i], W / reductions[i])], reductions
    2, 4, 8, 16, 32; H and W must divide by 32.
    """

    def __init__(self, in_channels: int = 3, base_channels: int = VGG_BASE_CHANNELS, layers: str = "vgg16"):
        super().__init__()
        if layers not in VGG_LAYERS:
            raise ValueError(f"unknown VGG configuration {layers!r}; choose one of {', '.join(VGG_LAYERS)}")
        self.layers = layers
        self.channels = [base_channels * m for m in (1, 2, 4, 8, 8)]
        self.reductions = [2, 4, 8, 16, 32]
        stages, width_in = [], in_channels
        for width, count in zip(self.channels, VGG_LAYERS[layers]):
            stages.append(nn.Sequential(*(ConvNormAct(width_in if i == 0 else width, width) for i in range(count))))
            width_in = width
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = F.max_pool2d(stage(x), 2)  # (B, c_i, H / 2^(i+1), W / 2^(i+1))
            features.append(x)
        return features

    def forward_with_indices(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The features and, for each, the argmax indices of the max-pool that made it."""
        features, indices = [], []
        for stage in self.stages:
            x, index = F.max_pool2d(stage(x), 2, return_indices=True)
            features.append(x)
            indices.append(index)
        return features, indices

    def load_torchvision_(self, state: dict[str, torch.Tensor]) -> None:
        """Copy torchvision's `vgg*_bn` convolution and norm weights, in order.

        torchvision's convolutions have a bias before the norm, ours do not: the bias is folded into
        the norm's running mean, which gives the same output."""
        if self.channels[0] != VGG_BASE_CHANNELS:
            raise ValueError(f"pretrained VGG weights need base_channels={VGG_BASE_CHANNELS}, got {self.channels[0]}")
        conv_keys = sorted((int(key.split(".")[1]) for key in state if key.startswith("features.") and key.endswith(".weight") and state[key].ndim == 4))
        pairs = [(conv, norm) for stage in self.stages for conv, norm, *_ in stage]
        if len(conv_keys) != len(pairs):
            raise ValueError(f"the weights have {len(conv_keys)} convolutions, {self.layers} has {len(pairs)}")
        with torch.no_grad():
            for index, (conv, norm) in zip(conv_keys, pairs):
                weight = state[f"features.{index}.weight"]
                if index == conv_keys[0]:
                    weight = adapt_input_conv(weight, conv.in_channels)
                conv.weight.copy_(weight)
                bn = f"features.{index + 1}"
                norm.weight.copy_(state[f"{bn}.weight"])
                norm.bias.copy_(state[f"{bn}.bias"])
                norm.running_mean.copy_(state[f"{bn}.running_mean"] - state[f"features.{index}.bias"])
                norm.running_var.copy_(state[f"{bn}.running_var"])


def vgg_state_dict(layers: str, source: bool | str | Path) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights of `{layers}_bn` (e.g. vgg16_bn), or the file `source`."""
    import torchvision

    weights = getattr(torchvision.models, f"{layers.upper()}_BN_Weights").IMAGENET1K_V1
    return torchvision_state_dict(weights, source)


def vgg_encoder(in_channels: int = 3, pretrained: bool | str = False, base_channels: int | None = None, layers: str = "vgg16") -> VGGEncoder:
    """A VGG encoder, with torchvision's ImageNet weights when `pretrained` (True or a file path)."""
    encoder = VGGEncoder(in_channels, base_channels or VGG_BASE_CHANNELS, layers)
    if pretrained:
        encoder.load_torchvision_(vgg_state_dict(layers, pretrained))
    return encoder
