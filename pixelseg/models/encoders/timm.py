"""Any timm backbone as an encoder (`encoder="timm:<name>"`), through timm's `features_only` mode."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from pixelseg.models.encoders.weights import PretrainedWeightsError


class TimmEncoder(nn.Module):
    """timm's feature pyramid of backbone `name`, described by its `feature_info`.

    (B, in_channels, H, W) -> [(B, channels[i], H / reductions[i], W / reductions[i])], usually
    reductions 2, 4, 8, 16, 32; H and W must divide by the last one.

    `pretrained`: True loads timm's default weights (Hugging Face cache, downloading if needed),
    a path loads that file. timm adapts the first convolution to `in_channels`.
    """

    def __init__(self, name: str, in_channels: int = 3, pretrained: bool | str | Path = False):
        super().__init__()
        import timm

        if not timm.is_model(name):
            raise ValueError(f"timm has no model {name!r} (see timm.list_models())")
        options = {"features_only": True, "in_chans": in_channels, "pretrained": bool(pretrained)}
        if not isinstance(pretrained, bool):
            if not Path(pretrained).is_file():
                raise PretrainedWeightsError(f"pretrained weights file {pretrained} does not exist")
            options["pretrained_cfg_overlay"] = {"file": str(pretrained)}
        try:
            self.model = timm.create_model(name, **options)
        except OSError as err:  # Hugging Face hub: no network and nothing in the cache
            raise PretrainedWeightsError(
                f"cannot download timm's pretrained weights for {name} ({err}); without network, fill the Hugging Face "
                f"cache (HF_HOME) on a connected machine or pass pretrained='/path/to/weights.safetensors'"
            ) from err
        self.channels = self.model.feature_info.channels()
        self.reductions = self.model.feature_info.reduction()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.model(x)
