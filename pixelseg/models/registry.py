"""A registry so a model is picked by name: `create_model("unet", num_classes=5)`.

Architectures register themselves with `@register_model("name", upsample_modes=(...))` on a
constructor `fn(num_classes, in_channels=3, **options) -> nn.Module`. `upsample_modes` lists the
values the architecture accepts for its `upsample=` option (empty: it has no such option). The
modules that hold them are imported lazily on first use, so `import pixelseg` stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Callable

import torch.nn as nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_UPSAMPLE_MODES: dict[str, tuple[str, ...]] = {}

# Modules whose import registers architectures.
_ARCHITECTURE_MODULES = (
    "pixelseg.models.unet",
    "pixelseg.models.fcn",
    "pixelseg.models.segnet",
    "pixelseg.models.realtime",
)
_loaded = False


def register_model(name: str, upsample_modes: tuple[str, ...] = ()):
    """Decorator: register `fn(num_classes, in_channels=3, **options)` under `name`."""

    def decorator(fn):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = fn
        _UPSAMPLE_MODES[name] = tuple(upsample_modes)
        return fn

    return decorator


def _load_architectures() -> None:
    global _loaded
    if _loaded:
        return
    for module_name in _ARCHITECTURE_MODULES:
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as err:  # an architecture not written yet
            if err.name != module_name:
                raise
    _loaded = True


def _check_name(name: str) -> None:
    _load_architectures()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}")


def list_models() -> list[str]:
    """Names accepted by `create_model`, sorted."""
    _load_architectures()
    return sorted(_REGISTRY)


def upsample_modes(name: str) -> tuple[str, ...]:
    """The `upsample=` values model `name` accepts, its default first; () when it has no such option."""
    _check_name(name)
    return _UPSAMPLE_MODES[name]


def create_model(name: str, num_classes: int, in_channels: int = 3, **options) -> nn.Module:
    """Build the architecture `name` for `num_classes` classes.

    Every model maps (B, in_channels, H, W) to logits (B, num_classes, H, W) for any H, W >= 32.
    The model remembers how it was built in `model.pixelseg_config`, which checkpoints store.
    `pretrained` is left out of it: a checkpoint holds the trained weights, and rebuilding the
    model from it must not need the network.
    """
    _check_name(name)
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    if "upsample" in options and options["upsample"] not in _UPSAMPLE_MODES[name]:
        accepted = ", ".join(_UPSAMPLE_MODES[name]) or "none (it has no upsample option)"
        raise ValueError(f"model {name!r} does not take upsample={options['upsample']!r}; it takes {accepted}")
    model = _REGISTRY[name](num_classes=num_classes, in_channels=in_channels, **options)
    rebuild_options = {key: value for key, value in options.items() if key != "pretrained"}
    model.pixelseg_config = {"name": name, "num_classes": num_classes, "in_channels": in_channels, "options": rebuild_options}
    return model
