"""What a network's output means: logits -> class probabilities and class ids, for both kinds of model.

    multiclass  logits (..., C, H, W), C >= 2: one map per class. Probabilities: softmax over C;
                class ids: argmax.
    binary      logits (..., 1, H, W): one map, a logit z per pixel, P(foreground) = sigmoid(z).
                As class probabilities (..., 2, H, W): (1 - σ(z), σ(z)), which is exactly the softmax
                of the two logits (0, z): a binary model is a two-class model whose background logit
                is pinned at 0. Class id 1 where σ(z) > threshold (default 0.5).

So everything downstream of these two functions (class names [background, foreground], the
confusion matrix, probability PNGs, the matte of `apply`) sees two classes either way, and a binary
model and a two-class model are compared like for like.

The mode is the channel count's: one output map is a binary model, never a one-class softmax (a
softmax over one class is 1 everywhere). The class dimension is -3, so (C, H, W) and (B, C, H, W)
alike. Every place that turns logits into probabilities or masks (training's validation and
previews, Predictor and OnnxPredictor, refinement, the ONNX check, predict's files, apply, serve)
goes through here.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MODES = ("multiclass", "binary")
DEFAULT_THRESHOLD = 0.5
CLASS_DIM = -3  # (C, H, W) and (B, C, H, W)


def mode_of(channels: int) -> str:
    """The mode of a network with this many output maps: 1 -> "binary", 2 or more -> "multiclass"."""
    if channels < 1:
        raise ValueError(f"a network has at least one output map, got {channels}")
    return "binary" if channels == 1 else "multiclass"


def output_maps(num_classes: int, mode: str) -> int:
    """How many maps a network of `mode` needs for a data set of `num_classes` classes (binary: 1, for 2 classes)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "binary":
        if num_classes != 2:
            raise ValueError(f"binary mode is for two classes (background and one foreground), got {num_classes}")
        return 1
    return num_classes


def check_threshold(threshold: float) -> float:
    """`threshold` when it is a probability in [0, 1]; ValueError otherwise."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a probability in [0, 1], got {threshold}")
    return float(threshold)


def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Logits (..., C, H, W) -> probabilities (..., K, H, W) float32 summing to 1 over K: K = C for
    a multiclass model (softmax), K = 2 for a binary one (1 - σ(z), σ(z))."""
    logits = logits.float()
    if logits.shape[CLASS_DIM] == 1:
        return torch.cat([(-logits).sigmoid(), logits.sigmoid()], dim=CLASS_DIM)  # σ(-z) = 1 - σ(z), exact for large z
    return logits.softmax(CLASS_DIM)


def class_log_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """The log of class_probabilities, computed stably: log-softmax, or (log σ(-z), log σ(z))."""
    logits = logits.float()
    if logits.shape[CLASS_DIM] == 1:
        return torch.cat([F.logsigmoid(-logits), F.logsigmoid(logits)], dim=CLASS_DIM)
    return logits.log_softmax(CLASS_DIM)


def class_ids(logits: torch.Tensor, threshold: float = DEFAULT_THRESHOLD) -> torch.Tensor:
    """Logits (..., C, H, W) -> class ids (..., H, W) uint8: argmax (multiclass), or 1 where
    σ(z) > threshold (binary; `threshold` is ignored for multiclass logits).

    The binary comparison is made on the logit, z > log(t / (1 - t)): at t = 0.5 that is z > 0,
    exactly the argmax of the two-class logits (0, z), ties going to class 0 as argmax's do."""
    if logits.shape[CLASS_DIM] != 1:
        return logits.argmax(CLASS_DIM).to(torch.uint8)
    check_threshold(threshold)
    cut = -math.inf if threshold <= 0 else math.inf if threshold >= 1 else math.log(threshold) - math.log1p(-threshold)
    return (logits.squeeze(CLASS_DIM) > cut).to(torch.uint8)


def logits_from_probabilities(probabilities: torch.Tensor, channels: int, eps: float = 1e-6) -> torch.Tensor:
    """Back from class probabilities (..., K, H, W) (as class_probabilities gives them, summing to 1
    over K) to logits in the form of a model with `channels` output maps, whose class_probabilities
    and class_ids are these probabilities' again: log-probabilities (..., K, H, W) for a multiclass
    model, the log-odds log p₁ - log p₀ (..., 1, H, W) for a binary one. Probabilities are clamped
    to `eps` first (log 0). Refinement, which works on probabilities, hands its result on this way."""
    log_p = probabilities.clamp(min=eps).log()
    if channels == 1:
        background, foreground = log_p.unbind(CLASS_DIM)
        return (foreground - background).unsqueeze(CLASS_DIM)
    return log_p
