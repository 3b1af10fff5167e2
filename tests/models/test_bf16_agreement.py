"""bf16 autocast must not change the answer of a trained model: the same argmax as fp32 on at least
99% of pixels."""
from __future__ import annotations

import pytest
import torch

from tests.models.small import SMALL_OPTIONS, small_model


def shapes_batch(generator: torch.Generator, batch: int = 4, size: int = 64, num_classes: int = 3):
    """Images of noisy coloured rectangles on a dark background; the mask is each pixel's class."""
    colours = torch.tensor([[0.1, 0.1, 0.1], [0.9, 0.2, 0.2], [0.2, 0.3, 0.9]])[:num_classes]
    masks = torch.zeros(batch, size, size, dtype=torch.long)
    for b in range(batch):
        for cls in range(1, num_classes):
            top, left = torch.randint(0, size // 2, (2,), generator=generator).tolist()
            height, width = torch.randint(size // 6, size // 2, (2,), generator=generator).tolist()
            masks[b, top:top + height, left:left + width] = cls
    images = colours[masks].permute(0, 3, 1, 2)                                   # (B, 3, H, W)
    return images + 0.05 * torch.randn(images.shape, generator=generator), masks


@pytest.mark.parametrize("name", sorted(SMALL_OPTIONS))
def test_trained_model_gives_the_same_argmax_in_bf16(name):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = small_model(name).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(40):
        images, masks = shapes_batch(generator)
        loss = torch.nn.functional.cross_entropy(model(images.contiguous(memory_format=torch.channels_last)), masks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    images, masks = shapes_batch(generator, batch=8)
    images = images.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        fp32 = model(images).argmax(1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model(images).argmax(1)
    assert (fp32 == masks).float().mean() > 0.8, "the model did not learn the task; the comparison would mean little"
    assert (bf16 == fp32).float().mean() >= 0.99
