"""Predictor: a checkpoint in, masks at each image's original size out."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pixelseg.data.folder import normalize
from pixelseg.engine.checkpoint import load_checkpoint, model_from_checkpoint
from pixelseg.engine.evaluator import autocast
from pixelseg.engine.trainer import resolve_device
from pixelseg.inference.sliding import predict_logits


class Predictor:
    """Wraps a model with its classes and normalisation, as stored in its checkpoint.

    >>> predictor = Predictor.from_checkpoint("runs/demo/best.pt")
    >>> probabilities = predictor.predict_proba(image)   # (C, H, W) float32, image (H, W, 3) uint8
    >>> mask = predictor.predict(image)                  # (H, W) uint8 class ids
    """

    def __init__(self, model: torch.nn.Module, classes: list[str], mean, std, device="auto", precision: str = "fp32",
                 window: tuple[int, int] | None = None, flip: bool = False):
        self.device = resolve_device(device)
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        self.classes, self.mean, self.std, self.precision = list(classes), tuple(mean), tuple(std), precision
        self.window, self.flip = window, flip  # sliding-window size (H, W) and flip TTA, see inference.sliding

    @classmethod
    def from_checkpoint(cls, path: str | Path, device="auto", precision: str = "fp32", **options) -> "Predictor":
        checkpoint = load_checkpoint(path)
        return cls(model_from_checkpoint(checkpoint), checkpoint["classes"], checkpoint["mean"], checkpoint["std"], device, precision, **options)

    @torch.no_grad()
    def logits(self, image: np.ndarray) -> torch.Tensor:
        """Logits (C, H, W) float32 at the image's own size. Image: RGB uint8 (H, W, 3)."""
        x = normalize(torch.from_numpy(image).permute(2, 0, 1), self.mean, self.std)[None]  # (1, 3, H, W)
        x = x.to(self.device, memory_format=torch.channels_last)
        with autocast(self.device, self.precision):
            out = predict_logits(self.model, x, self.window, flip=self.flip)                # (1, C, H, W)
        return out[0].float().cpu()

    def predict_proba(self, image: np.ndarray) -> torch.Tensor:
        return self.logits(image).softmax(0)

    def predict(self, image: np.ndarray) -> np.ndarray:
        return self.logits(image).argmax(0).to(torch.uint8).numpy()
