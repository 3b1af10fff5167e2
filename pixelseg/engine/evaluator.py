"""Scoring a model over a whole split: one confusion matrix, accumulated batch by batch."""
from __future__ import annotations

import torch
from tqdm import tqdm

from pixelseg.engine import distributed
from pixelseg.metrics import ConfusionMatrix
from pixelseg.runtime.precision import autocast
from pixelseg.runtime.sliding import predict_logits


@torch.no_grad()
def evaluate(model, loader, num_classes: int, device, precision: str = "fp32", loss_fn=None, progress: bool = True,
             channels_last: bool = True, window: tuple[int, int] | None = None, flip: bool = False, all_ranks: bool = False):
    """Returns (ConfusionMatrix over the split, loss over the split or None).

    The loss is each batch's loss weighted by its counted (non-ignore) pixels: for cross-entropy and
    focal exactly the mean over every counted pixel of the split, whatever the batching or sharding.

    window: sliding-window size (H, W) for images larger than the network should see at once;
    flip: average with the prediction on the mirrored image (test-time augmentation). Both go
    through runtime.sliding.predict_logits, as prediction does.
    all_ranks: under torchrun, every process scored its own shard of the split; sum the confusion
    matrices and losses of all of them (every process must call this then).
    """
    device = torch.device(device)
    model.eval()
    confusion = ConfusionMatrix(num_classes, device=device)
    total_loss = torch.zeros(2, dtype=torch.float64, device=device)  # (Σ batch loss × its counted pixels, Σ counted pixels)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for images, masks in tqdm(loader, desc="evaluate", leave=False, disable=not progress, unit="batch"):
        images = images.to(device, memory_format=memory_format, non_blocking=True)  # (B, 3, H, W)
        masks = masks.to(device, non_blocking=True)                                  # (B, H, W)
        with autocast(device, precision):
            logits = predict_logits(model, images, window=window, flip=flip)         # (B, C, H, W) float32
        if loss_fn is not None:
            counted = int((masks != confusion.ignore_index).sum())
            total_loss[0] += float(loss_fn(logits, masks)) * counted
            total_loss[1] += counted
        confusion.update(logits.argmax(1), masks)
    if all_ranks:
        distributed.all_reduce_sum(confusion.matrix)
        distributed.all_reduce_sum(total_loss)
    counted = float(total_loss[1])
    return confusion, (float(total_loss[0]) / counted if loss_fn is not None and counted else None)
