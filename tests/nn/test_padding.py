from __future__ import annotations

import pytest
import torch

from pixelseg.nn.padding import crop_to, pad_to_multiple


@pytest.mark.parametrize(("height", "width"), [(32, 32), (33, 97), (64, 200), (5, 40)])
def test_pad_to_multiple_then_crop_back(height, width):
    x = torch.randn(2, 3, height, width)
    padded, size = pad_to_multiple(x, 32)
    assert padded.shape[-2] % 32 == 0 and padded.shape[-1] % 32 == 0
    assert size == (height, width)
    assert torch.equal(crop_to(padded, size), x)


def test_no_copy_when_already_a_multiple():
    x = torch.randn(1, 1, 64, 32)
    assert pad_to_multiple(x, 32)[0] is x
