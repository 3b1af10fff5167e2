"""Class weights from pixel frequencies, checked against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelseg.data.class_weights import count_classes, folder_counts, inverse_frequency_weights, median_frequency_weights


def masks():
    """Two 2×4 masks over 4 classes; class 3 never occurs, 255 is ignored."""
    a = np.array([[0, 0, 0, 0], [0, 0, 1, 255]], np.uint8)  # 6 × class 0, 1 × class 1, 1 ignore
    b = np.array([[0, 0, 2, 2], [1, 1, 1, 1]], np.uint8)    # 2 × class 0, 4 × class 1, 2 × class 2
    return [a, b]


def test_counts():
    counts = count_classes(masks(), 4)
    assert counts.pixels.tolist() == [8, 5, 2, 0]
    assert counts.images.tolist() == [2, 2, 1, 0]
    assert counts.pixels_in_images.tolist() == [7 + 8, 7 + 8, 8, 0]  # labelled pixels of the masks holding the class
    assert counts.ignored == 1 and counts.masks == 2


def test_inverse_frequency():
    counts = count_classes(masks(), 4)
    weights = inverse_frequency_weights(counts)
    # f = 8/15, 5/15, 2/15; w = 1 / (3 f)
    expected = [15 / 24, 15 / 15, 15 / 6, 0.0]
    assert torch.allclose(weights, torch.tensor(expected))
    assert weights.dtype == torch.float32
    # average weight per counted pixel is 1: the loss keeps its scale
    assert float((weights[:3] * torch.tensor([8.0, 5, 2])).sum() / 15) == pytest.approx(1.0)
    assert inverse_frequency_weights(counts, max_weight=1.5).tolist() == pytest.approx([15 / 24, 1.0, 1.5, 0.0])


def test_balanced_set_gets_ones():
    counts = count_classes([np.array([[0, 1], [2, 3]], np.uint8)], 4)
    assert inverse_frequency_weights(counts).tolist() == [1.0] * 4
    assert median_frequency_weights(counts).tolist() == [1.0] * 4


def test_median_frequency():
    counts = count_classes(masks(), 4)
    # f_c = pixels / labelled pixels of the images containing c: 8/15, 5/15, 2/8; median = 5/15
    frequency = np.array([8 / 15, 5 / 15, 2 / 8])
    expected = np.append(np.median(frequency) / frequency, 0.0)
    assert torch.allclose(median_frequency_weights(counts), torch.tensor(expected, dtype=torch.float32))
    assert median_frequency_weights(count_classes([], 3)).tolist() == [0.0, 0.0, 0.0]


def test_folder_counts(make_data_folder):
    image = np.zeros((2, 4, 3), np.uint8)
    root = make_data_folder({"train": {"a": (image, masks()[0]), "b": (image, masks()[1])}}, classes=("a", "b", "c", "d"))
    counts = folder_counts(root, "train")
    assert counts.pixels.tolist() == [8, 5, 2, 0] and counts.ignored == 1
