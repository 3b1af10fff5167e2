"""Checkpoints that hold everything needed to rebuild and use a model, written atomically.

A checkpoint is a dict saved with torch.save:

    model        {"name", "num_classes", "in_channels", "options"}: create_model's arguments
                 (num_classes = the output maps: 1 for a binary model)
    mode         "multiclass" (a map per class, softmax) or "binary" (one map, sigmoid; classes
                 still [background, foreground]); absent from checkpoints older than it: multiclass
    state_dict   the weights
    classes      class names, index order
    mean, std    input normalisation
    epoch, metrics, config             where training stood
    optimizer, scheduler, rng          for an exact resume (absent from exported/slim files)
    inference    optional {"input_size": N, "refine": "guided"}: how the model is meant to be run;
                 Predictor and evaluate use it unless told otherwise

A name instead of a path (`load_checkpoint("person")`) loads a model bundled with the package
(pixelseg.bundled).

Training writes two (engine/trainer.py):
    last.pt   the full state after the latest epoch; `--resume RUN` continues from it. Besides the
              above: "scaler" (fp16), "history" (metrics.csv's rows), "best_miou", "best_epoch",
              "elapsed" (seconds of the run so far). "scheduler" is {"step": optimizer steps taken}
              (the schedule is a function of the step and the progress, see engine/schedules.py);
              "rng" is one entry per process (see rng_state).
    best.pt   slim: the weights of the epoch with the best validation mIoU, for inference.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from pixelseg.bundled import bundled_names, bundled_path
from pixelseg.errors import PixelsegError
from pixelseg.models.registry import create_model
from pixelseg.runtime.outputs import mode_of
from pixelseg.temporary import atomic_file


def atomic_save(obj, path: str | Path) -> Path:
    """torch.save to a temporary file beside `path`, flush it to disk, then rename over `path`.

    A rename within one folder is atomic, so a reader (or a run killed at any moment) sees either
    the old complete file or the new complete file, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:  # mode per umask, not mkstemp's 0600
        torch.save(obj, f)
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
        "mode": mode_of(model.pixelseg_config["num_classes"]),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "classes": list(classes),
        "mean": list(mean),
        "std": list(std),
        **extra,
    }


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file: `path` itself when it is a file, else the bundled model of that name."""
    if Path(path).is_file():
        return Path(path)
    bundled = bundled_path(str(path))
    if bundled is not None:
        if not bundled.is_file():
            raise PixelsegError(f"bundled model {path!r}: {bundled} is missing from this installation (reinstall pixelseg)")
        return bundled
    raise PixelsegError(f"{path}: checkpoint not found: neither a file nor a bundled model ({', '.join(bundled_names())})")


def half_weights(checkpoint: dict) -> dict:
    """A copy whose floating-point weights are fp16 (half the file; loading casts them back to the
    model's fp32). Only weights of two or more dimensions: BatchNorm's statistics stay fp32, where a
    running variance may be too small for fp16."""
    state = {k: v.half() if v.is_floating_point() and v.ndim >= 2 else v for k, v in checkpoint["state_dict"].items()}
    return {**checkpoint, "state_dict": state}


def inference_settings(checkpoint: dict, **overrides) -> dict:
    """The checkpoint's "inference" entry with the `overrides` that are not None on top."""
    settings = dict(checkpoint.get("inference") or {})
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return settings


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    path = resolve_checkpoint(path)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # truncated or not a torch file
        raise PixelsegError(f"{path}: not a readable checkpoint ({err})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != "pixelseg-checkpoint-1":
        raise PixelsegError(f"{path}: not a pixelseg checkpoint")
    return checkpoint


def checkpoint_mode(checkpoint: dict) -> str:
    """"multiclass" or "binary": the mode the checkpoint records (none recorded: multiclass), checked
    against its model's output maps (one map is binary, see runtime.outputs)."""
    recorded = checkpoint.get("mode", "multiclass")
    maps = checkpoint["model"]["num_classes"]
    if recorded != mode_of(maps):
        raise PixelsegError(f"checkpoint records mode {recorded!r} but its model has {maps} output map{'s' * (maps != 1)} "
                            f"(a binary model has one, a multiclass model one per class)")
    return recorded


def model_from_checkpoint(checkpoint: dict) -> torch.nn.Module:
    """Rebuild the architecture from the checkpoint's own record and load its weights (eval mode)."""
    spec = checkpoint["model"]
    model = create_model(spec["name"], spec["num_classes"], spec["in_channels"], **spec["options"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


def rng_state(loader_generator: torch.Generator | None = None) -> dict:
    """Every random state this process draws from: Python, NumPy, torch (CPU and CUDA) and the
    DataLoader's generator (it seeds the shuffling and the worker processes)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if loader_generator is not None:
        state["loader"] = loader_generator.get_state()
    return state


def set_rng_state(state: dict, loader_generator: torch.Generator | None = None) -> None:
    """Put back what rng_state() recorded."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if loader_generator is not None and "loader" in state:
        loader_generator.set_state(state["loader"])
