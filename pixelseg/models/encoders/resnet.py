"""ResNet-style encoder (He et al., 2016) of basic blocks, as in ResNet-18/34.

Module names follow torchvision's ResNet, so its ImageNet weights load as they are."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from pixelseg.models.encoders.weights import adapt_input_conv, torchvision_state_dict

RESNET_LAYERS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}
RESNET_BASE_CHANNELS = 64


class BasicBlock(nn.Module):
    """Two 3×3 convolutions plus the identity (or a strided 1×1 projection when the shape changes).

    (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNetEncoder(nn.Module):
    """Stem (7×7 stride-2 convolution) and four stages of basic blocks.

    (B, in_channels, H, W) -> [(B, channels[i], H / reductions[i], W / reductions[i])], reductions
    2 (stem), 4, 8, 16, 32, widths base·(1, 1, 2, 4, 8); H and W must divide by 32.
    """

    def __init__(self, in_channels: int = 3, base_channels: int = RESNET_BASE_CHANNELS, layers: str = "resnet18"):
        super().__init__()
        if layers not in RESNET_LAYERS:
            raise ValueError(f"unknown ResNet configuration {layers!r}; choose one of {', '.join(RESNET_LAYERS)}")
        self.layers = layers
        self.channels = [base_channels * m for m in (1, 1, 2, 4, 8)]
        self.reductions = [2, 4, 8, 16, 32]
        self.conv1 = nn.Conv2d(in_channels, base_channels, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        width_in = base_channels
        for i, (width, count) in enumerate(zip(self.channels[1:], RESNET_LAYERS[layers])):
            blocks = [BasicBlock(width_in if j == 0 else width, width, stride=2 if i > 0 and j == 0 else 1) for j in range(count)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            width_in = width

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))  # (B, c0, H/2, W/2)
        features = [x]
        x = self.maxpool(x)                     # (B, c0, H/4, W/4)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)                        # (B, c_i, H / 2^(i+1), W / 2^(i+1))
            features.append(x)
        return features


def resnet_encoder(in_channels: int = 3, pretrained: bool | str | Path = False, base_channels: int | None = None, layers: str = "resnet18") -> ResNetEncoder:
    """A ResNet encoder, with torchvision's ImageNet weights when `pretrained` (True or a file path)."""
    import torchvision

    encoder = ResNetEncoder(in_channels, base_channels or RESNET_BASE_CHANNELS, layers)
    if pretrained:
        if encoder.channels[0] != RESNET_BASE_CHANNELS:
            raise ValueError(f"pretrained ResNet weights need base_channels={RESNET_BASE_CHANNELS}, got {encoder.channels[0]}")
        weights = getattr(torchvision.models, f"ResNet{layers[len('resnet'):]}_Weights").IMAGENET1K_V1
        state = {key: value for key, value in torchvision_state_dict(weights, pretrained).items() if not key.startswith("fc.")}
        state["conv1.weight"] = adapt_input_conv(state["conv1.weight"], in_channels)
        encoder.load_state_dict(state)
    return encoder
