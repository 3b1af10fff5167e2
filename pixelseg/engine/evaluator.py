"""Scoring a model over a whole split: one confusion matrix, accumulated batch by batch."""
from __future__ import annotations

import torch
from tqdm import tqdm

from pixelseg.metrics import ConfusionMatrix


def autocast(device: torch.device, precision: str):
    """bf16 autocast where asked for (CPU or CUDA); fp32 otherwise."""
    if precision not in ("fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


@torch.no_grad()
def evaluate(model, loader, num_classes: int, device, precision: str = "fp32", loss_fn=None, progress: bool = True, channels_last: bool = True):
    """Returns (ConfusionMatrix over the split, mean loss per batch or None)."""
    device = torch.device(device)
    model.eval()
    confusion = ConfusionMatrix(num_classes, device=device)
    total_loss, batches = 0.0, 0
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for images, masks in tqdm(loader, desc="evaluate", leave=False, disable=not progress, unit="batch"):
        images = images.to(device, memory_format=memory_format, non_blocking=True)  # (B, 3, H, W)
        masks = masks.to(device, non_blocking=True)                                  # (B, H, W)
        with autocast(device, precision):
            logits = model(images)                                                   # (B, C, H, W)
        if loss_fn is not None:
            total_loss += float(loss_fn(logits, masks))
            batches += 1
        confusion.update(logits.argmax(1), masks)
    return confusion, (total_loss / batches if batches else None)
