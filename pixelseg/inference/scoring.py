"""Scoring a predictor on a labelled split: the masks `predict` would write, against the true masks.

Unlike the trainer's validation (engine.evaluator: normalised batches at the images' own size), this
runs every image exactly as `predict`, `apply` and `serve` do, with the predictor's input size,
windows, flip and refinement, so `pixelseg evaluate` scores what a user gets.
"""
from __future__ import annotations

import torch
from tqdm import tqdm

from pixelseg.data.folder import SegmentationFolder
from pixelseg.metrics import ConfusionMatrix, edge_band


def score_split(predictor, dataset: SegmentationFolder, batch_size: int = 1, progress: bool = True,
                band: int | None = None) -> ConfusionMatrix:
    """One confusion matrix over `dataset`'s pairs, predicted `batch_size` images at a time; with
    `band`, only over the pixels within `band` pixels of a true edge (metrics.edge_band)."""
    confusion = ConfusionMatrix(len(predictor.classes))
    indices = range(len(dataset))
    with tqdm(total=len(dataset), desc="evaluate", unit="image", leave=False, disable=not progress) as bar:
        for start in range(0, len(dataset), batch_size):
            pairs = [dataset.load(i) for i in indices[start : start + batch_size]]
            for (_, mask), logits in zip(pairs, predictor.logits_many([image for image, _ in pairs], batch_size)):
                target = torch.from_numpy(mask).long()                                     # (H, W)
                confusion.update(predictor.class_ids(logits), edge_band(target, band) if band else target)
            bar.update(len(pairs))
    return confusion
