"""Batching images of different sizes: pad to the largest, images with 0, masks with 255 (ignore)."""
from __future__ import annotations

import torch

from pixelseg.data.folder import IGNORE_INDEX


def pad_collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """[(image (C, h, w), mask (h, w)), ...] -> images (B, C, H, W), masks (B, H, W).

    Padded pixels are ignored by the loss and the metrics, so mixing sizes changes no score.
    """
    height = max(image.shape[-2] for image, _ in batch)
    width = max(image.shape[-1] for image, _ in batch)
    channels = batch[0][0].shape[0]
    images = torch.zeros(len(batch), channels, height, width, dtype=batch[0][0].dtype)
    masks = torch.full((len(batch), height, width), IGNORE_INDEX, dtype=torch.long)
    for i, (image, mask) in enumerate(batch):
        images[i, :, : image.shape[-2], : image.shape[-1]] = image
        masks[i, : mask.shape[-2], : mask.shape[-1]] = mask
    return images, masks
