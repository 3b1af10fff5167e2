"""Narrow versions of every registered model, so the tests stay fast on a CPU."""
from __future__ import annotations

import pixelseg
from pixelseg.models.registry import upsample_modes

SMALL_OPTIONS = {
    "unet": {"base_channels": 8},
    "fcn32s": {"base_channels": 8, "fc_channels": 32},
    "fcn16s": {"base_channels": 8, "fc_channels": 32},
    "fcn8s": {"base_channels": 8, "fc_channels": 32},
    "segnet": {"base_channels": 8},
    "lraspp": {"base_channels": 8, "inter_channels": 16},
}


def model_modes() -> list[tuple[str, str | None]]:
    """(model, upsample mode) for every registered model and mode it supports; None: no upsample option."""
    return [(name, mode) for name in pixelseg.list_models() for mode in (upsample_modes(name) or (None,))]


def small_model(name: str, upsample: str | None = None, in_channels: int = 3, num_classes: int = 3, **options):
    options = {**SMALL_OPTIONS[name], **options}
    if upsample is not None:
        options["upsample"] = upsample
    return pixelseg.create_model(name, num_classes, in_channels, **options)
