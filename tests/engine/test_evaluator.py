"""evaluate(): at the network's input size when one is given, scored at the masks' own size."""
from __future__ import annotations

import torch

from pixelseg.engine.evaluator import evaluate


class SignOfRed(torch.nn.Module):
    """Class 1 where the first channel is positive; remembers the sizes it was shown."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(tuple(x.shape[-2:]))
        return torch.stack([torch.zeros_like(x[:, 0]), x[:, 0]], 1)                 # (B, 2, H, W)


def test_input_size_resizes_for_the_network_and_scores_every_mask_pixel():
    images = -torch.ones(2, 3, 40, 64)
    images[:, 0, :, 32:] = 1.0                                                     # right half: class 1
    masks = torch.zeros(2, 40, 64, dtype=torch.long)
    masks[:, :, 32:] = 1
    masks[0, 0, 0] = 255                                                           # one ignored pixel
    model = SignOfRed()
    confusion, _ = evaluate(model, [(images, masks)], 2, "cpu", channels_last=False, progress=False, input_size=32)
    assert model.seen == [(20, 32)]                                                # long side 64 -> 32, aspect kept
    assert int(confusion.matrix.sum()) == 2 * 40 * 64 - 1
    assert torch.equal(confusion.matrix, torch.tensor([[2 * 40 * 32 - 1, 0], [0, 2 * 40 * 32]]))
    evaluate(model, [(images, masks)], 2, "cpu", channels_last=False, progress=False)
    assert model.seen[-1] == (40, 64)                                              # no input size: the images' own
