"""Scoring a model over a whole split: one confusion matrix, accumulated batch by batch."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm import tqdm

from pixelseg.engine import distributed
from pixelseg.metrics import ConfusionMatrix
from pixelseg.runtime.outputs import class_ids
from pixelseg.runtime.precision import autocast
from pixelseg.runtime.sliding import predict_logits, to_long_side


@torch.no_grad()
def evaluate(model, loader, num_classes: int, device, precision: str = "fp32", loss_fn=None, progress: bool = True,
             channels_last: bool = True, window: tuple[int, int] | None = None, flip: bool = False, all_ranks: bool = False,
             input_size: int | None = None):
    """Returns (ConfusionMatrix over the split, loss over the split or None).

    num_classes: the data's classes (2 for a binary model's one output map: background, foreground).

    The loss is each batch's loss weighted by its counted (non-ignore) pixels: for cross-entropy and
    focal exactly the mean over every counted pixel of the split, whatever the batching or sharding.

    window: sliding-window size (H, W) for images larger than the network should see at once;
    flip: average with the prediction on the mirrored image (test-time augmentation). Both go
    through runtime.sliding.predict_logits, as prediction does.
    input_size: the long side the network is meant to see (TrainConfig.input_size): images are resized
    to it and the logits back to the masks' size, as prediction does, so that the score used to pick
    best.pt is the one users get.
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
        height, width = images.shape[-2:]
        images = to_long_side(images, input_size)                                    # (B, 3, h, w)
        with autocast(device, precision):
            logits = predict_logits(model, images, window=window, flip=flip)         # (B, C, h, w) float32
        if logits.shape[-2:] != (height, width):
            logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)  # (B, C, H, W)
        if loss_fn is not None:
            counted = int((masks != confusion.ignore_index).sum())
            total_loss[0] += float(loss_fn(logits, masks)) * counted
            total_loss[1] += counted
        confusion.update(class_ids(logits), masks)  # argmax, or a binary model's σ > 0.5
    if all_ranks:
        distributed.all_reduce_sum(confusion.matrix)
        distributed.all_reduce_sum(total_loss)
    counted = float(total_loss[1])
    return confusion, (float(total_loss[0]) / counted if loss_fn is not None and counted else None)
