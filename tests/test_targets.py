from __future__ import annotations

import pytest
import torch

from pixelseg.targets import from_one_hot, to_one_hot


def test_round_trip_keeps_classes_and_ignored_pixels():
    mask = torch.tensor([[[0, 1, 2], [255, 2, 0]]])
    onehot = to_one_hot(mask, 3)
    assert onehot.shape == (1, 3, 2, 3) and onehot.dtype == torch.float32
    assert torch.equal(onehot[0, :, 1, 0], torch.zeros(3))   # ignored pixel: no class
    assert torch.equal(onehot.sum(1)[mask != 255], torch.ones(5))
    assert torch.equal(from_one_hot(onehot), mask)
    assert from_one_hot(onehot).dtype == torch.long


def test_random_round_trip_uint8_mask():
    torch.manual_seed(0)
    mask = torch.randint(0, 6, (4, 17, 23))
    mask[torch.rand(mask.shape) < 0.2] = 255
    mask = mask.to(torch.uint8)
    assert torch.equal(from_one_hot(to_one_hot(mask, 6)), mask.long())


def test_custom_ignore_index():
    mask = torch.tensor([[[0, -1], [1, 1]]])
    assert torch.equal(from_one_hot(to_one_hot(mask, 2, ignore_index=-1), ignore_index=-1), mask)


def test_class_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="class 3"):
        to_one_hot(torch.tensor([[[0, 3]]]), 3)


def test_wrong_shapes_are_errors():
    with pytest.raises(ValueError):
        to_one_hot(torch.zeros(2, 2), 3)
    with pytest.raises(ValueError):
        from_one_hot(torch.zeros(3, 2, 2))
