"""Scoring a predictor on a labelled split: the masks `predict` would write, against the true masks.

Unlike the trainer's validation (engine.evaluator: normalised batches at the images' own size), this
runs every image exactly as `predict`, `apply` and `serve` do, with the predictor's input size,
windows, flip and refinement, so `pixelseg evaluate` scores what a user gets.
"""
from __future__ import annotations

import torch
from tqdm import tqdm

from pixelseg.data.folder import SegmentationFolder
from pixelseg.engine import distributed
from pixelseg.engine.distributed import DistInfo
from pixelseg.inference.shards import progress_label
from pixelseg.metrics import ConfusionMatrix, edge_band


def score_split(predictor, dataset: SegmentationFolder, batch_size: int = 1, progress: bool = True,
                band: int | None = None, world: DistInfo = DistInfo()) -> ConfusionMatrix:
    """One confusion matrix over `dataset`'s pairs, predicted `batch_size` images at a time; with
    `band`, only over the pixels within `band` pixels of a true edge (metrics.edge_band).

    world: under torchrun, this process scores its share of the batches (`share_of_split`) and the
    ranks' matrices are summed, as the trainer's validation does: every rank gets the whole split's
    matrix, exactly one process's (the same forward passes, and counts are integers).
    """
    confusion = ConfusionMatrix(len(predictor.classes))
    batches = share_of_split(len(dataset), batch_size, world)
    with tqdm(total=sum(map(len, batches)), desc=progress_label("evaluate", world), unit="image", leave=False, disable=not progress) as bar:
        for batch in batches:
            pairs = [dataset.load(i) for i in batch]
            for (_, mask), logits in zip(pairs, predictor.logits_many([image for image, _ in pairs], batch_size)):
                target = torch.from_numpy(mask).long()                                     # (H, W)
                confusion.update(predictor.class_ids(logits), edge_band(target, band) if band else target)
            bar.update(len(pairs))
    if world.enabled:
        distributed.all_reduce_sum(confusion.matrix)
    return confusion


def share_of_split(size: int, batch_size: int, world: DistInfo = DistInfo()) -> list[range]:
    """This rank's batches of a split of `size` pairs: one process's batches (consecutive pairs,
    `batch_size` at a time), every world_size-th from position rank. Whole batches, not pairs, are
    dealt out so that every image meets the network in the company it has in one process: a batch's
    size and members can change a convolution's last bits, and so an argmax near a tie."""
    return world.shard([range(start, min(start + batch_size, size)) for start in range(0, size, batch_size)])
