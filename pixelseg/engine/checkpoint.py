"""Checkpoints that hold everything needed to rebuild and use a model, written atomically.

A checkpoint is a dict saved with torch.save:

    model        {"name", "num_classes", "in_channels", "options"}: create_model's arguments
    state_dict   the weights
    classes      class names, index order
    mean, std    input normalisation
    epoch, metrics, config             where training stood
    optimizer, scheduler, rng          for an exact resume (absent from exported/slim files)
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from pixelseg.errors import PixelsegError
from pixelseg.models.registry import create_model


def atomic_save(obj, path: str | Path) -> Path:
    """torch.save to a temporary file beside `path`, flush it to disk, then rename over `path`.

    A rename within one folder is atomic, so a reader (or a run killed at any moment) sees either
    the old complete file or the new complete file, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model inside DistributedDataParallel / torch.compile wrappers."""
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    return getattr(model, "_orig_mod", model)


def checkpoint_payload(model: torch.nn.Module, classes: list[str], mean, std, **extra) -> dict:
    model = unwrap(model)
    return {
        "format": "pixelseg-checkpoint-1",
        "model": model.pixelseg_config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "classes": list(classes),
        "mean": list(mean),
        "std": list(std),
        **extra,
    }


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise PixelsegError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # truncated or not a torch file
        raise PixelsegError(f"{path}: not a readable checkpoint ({err})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != "pixelseg-checkpoint-1":
        raise PixelsegError(f"{path}: not a pixelseg checkpoint")
    return checkpoint


def model_from_checkpoint(checkpoint: dict) -> torch.nn.Module:
    """Rebuild the architecture from the checkpoint's own record and load its weights (eval mode)."""
    spec = checkpoint["model"]
    model = create_model(spec["name"], spec["num_classes"], spec["in_channels"], **spec["options"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()
