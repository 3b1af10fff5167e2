"""A registry so a model is picked by name: `create_model("unet", num_classes=5)`.

Architectures register themselves with `@register_model("name", upsample_modes=(...))` on a
constructor `fn(num_classes, in_channels=3, **options) -> nn.Module`. `upsample_modes` lists the
values the architecture accepts for its `upsample=` option (empty: it has no such option). The
modules that hold them are imported lazily on first use, so `import pixelseg` stays cheap.
"""
from __future__ import annotations

import importlib
import inspect
import types
import typing
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
    for module_name in _ARCHITECTURE_MODULES:  # every one exists: a renamed module fails loudly here
        importlib.import_module(module_name)
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


# Set from the data (and create_model's own arguments), never an option.
_NOT_OPTIONS = ("self", "num_classes", "in_channels")


def model_options(name: str) -> dict[str, inspect.Parameter]:
    """The options model `name` takes: its constructor's keyword parameters and, when the constructor
    passes `**options` on, those of the class it returns (its return annotation, e.g. `-> UNet`)."""
    _check_name(name)
    fn = _REGISTRY[name]
    parameters = dict(inspect.signature(fn).parameters)
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        returned = typing.get_type_hints(fn).get("return")
        if inspect.isclass(returned):
            parameters.update(inspect.signature(returned).parameters)
    return {key: p for key, p in parameters.items() if key not in _NOT_OPTIONS and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def _accepts(hint, value) -> bool:
    """Whether `value` fits the annotation (int, float, str, bool, unions of them with None); other
    annotations are not checked."""
    kinds = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    for kind in kinds:
        if kind is type(None) and value is None:
            return True
        if kind is bool and isinstance(value, bool):
            return True
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if kind is str and isinstance(value, str):
            return True
        if kind not in (type(None), bool, int, float, str):
            return True
    return False


def check_options(name: str, options: dict) -> None:
    """ValueError naming the option when `options` cannot build model `name`: an option it does not
    take, a value of the wrong type, an upsample mode it lacks, or a count below 1 (every whole-number
    option of these architectures is a count or a size: channels, depth, stride, kernel)."""
    parameters = model_options(name)
    owner = _REGISTRY[name]
    returned = typing.get_type_hints(owner).get("return")
    hints = {**typing.get_type_hints(returned.__init__), **typing.get_type_hints(owner)} if inspect.isclass(returned) else typing.get_type_hints(owner)
    if "upsample" in options and options["upsample"] not in _UPSAMPLE_MODES[name]:
        accepted = ", ".join(_UPSAMPLE_MODES[name]) or "none (it has no upsample option)"
        raise ValueError(f"model {name!r} does not take upsample={options['upsample']!r}; it takes {accepted}")
    for key, value in options.items():
        if key not in parameters:
            raise ValueError(f"model {name!r} has no option {key!r}; its options are {', '.join(parameters)}")
        hint = hints.get(key)
        if hint is not None and not _accepts(hint, value):
            wanted = " or ".join(getattr(k, "__name__", str(k)) for k in (typing.get_args(hint) or (hint,)))
            raise ValueError(f"model option {key}={value!r}: {name} takes {wanted.replace('NoneType', 'None')}, not {type(value).__name__}")
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise ValueError(f"model option {key}={value}: must be at least 1")


def create_model(name: str, num_classes: int, in_channels: int = 3, **options) -> nn.Module:
    """Build the architecture `name` for `num_classes` classes.

    Every model maps (B, in_channels, H, W) to logits (B, num_classes, H, W) for any H, W >= 32.
    num_classes=1 is a binary model (one map, a sigmoid: runtime.outputs), never a one-class softmax.
    The model remembers how it was built in `model.pixelseg_config`, which checkpoints store.
    `pretrained` is left out of it: a checkpoint holds the trained weights, and rebuilding the
    model from it must not need the network.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    check_options(name, options)
    model = _REGISTRY[name](num_classes=num_classes, in_channels=in_channels, **options)
    rebuild_options = {key: value for key, value in options.items() if key != "pretrained"}
    model.pixelseg_config = {"name": name, "num_classes": num_classes, "in_channels": in_channels, "options": rebuild_options}
    return model
