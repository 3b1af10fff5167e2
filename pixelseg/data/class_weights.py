"""Per-class loss weights from pixel frequencies, for imbalanced data sets.

    counts = count_classes(load_mask(p) for p in mask_paths, num_classes)   # or folder_counts(root, "train")
    weights = median_frequency_weights(counts)                             # float32 (C,)
    loss = torch.nn.CrossEntropyLoss(weight=weights, ignore_index=255)

Classes that never occur in the counts get weight 0 (there is nothing to balance; such a class
cannot be learnt from these masks anyway). `max_weight` caps the weights of very rare classes.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pixelseg.data.folder import IGNORE_INDEX


@dataclass
class ClassCounts:
    """Pixel statistics of a set of masks, per class id 0..C-1 (ignore pixels not counted in them).

    pixels[c]: pixels of class c. images[c]: masks containing c. pixels_in_images[c]: all labelled
    (non-ignore) pixels of the masks containing c (median-frequency balancing needs it).
    values: (256,) histogram of raw mask values, for values outside the class set and 255.
    """

    num_classes: int
    pixels: np.ndarray = field(init=False)
    images: np.ndarray = field(init=False)
    pixels_in_images: np.ndarray = field(init=False)
    values: np.ndarray = field(init=False)
    masks: int = 0

    def __post_init__(self):
        self.pixels = np.zeros(self.num_classes, dtype=np.int64)
        self.images = np.zeros(self.num_classes, dtype=np.int64)
        self.pixels_in_images = np.zeros(self.num_classes, dtype=np.int64)
        self.values = np.zeros(256, dtype=np.int64)

    def add(self, mask: np.ndarray) -> np.ndarray:
        """Count one uint8 (H, W) mask; returns its (256,) value histogram."""
        histogram = np.bincount(mask.ravel(), minlength=256)
        self.add_histogram(histogram)
        return histogram

    def add_histogram(self, histogram: np.ndarray) -> None:
        counts = histogram[: self.num_classes]
        present = counts > 0
        self.values += histogram
        self.pixels += counts
        self.images += present
        self.pixels_in_images += present * counts.sum()
        self.masks += 1

    @property
    def ignored(self) -> int:
        return int(self.values[IGNORE_INDEX])


def count_classes(masks: Iterable[np.ndarray], num_classes: int) -> ClassCounts:
    """ClassCounts of uint8 (H, W) masks."""
    counts = ClassCounts(num_classes)
    for mask in masks:
        counts.add(mask)
    return counts


def folder_counts(root: str | Path, split: str = "train") -> ClassCounts:
    """ClassCounts of a split of a folder-format data set (reads the masks only)."""
    from pixelseg.data.folder import list_samples, load_mask, read_classes

    num_classes = len(read_classes(root))
    return count_classes((load_mask(s.mask_path, num_classes) for s in list_samples(root, split)), num_classes)


def _finish(weights: np.ndarray, max_weight: float | None) -> torch.Tensor:
    if max_weight is not None:
        weights = np.minimum(weights, max_weight)
    return torch.as_tensor(weights, dtype=torch.float32)


def inverse_frequency_weights(counts: ClassCounts, max_weight: float | None = None) -> torch.Tensor:
    """w_c = 1 / (K f_c), f_c = pixels of c / all counted pixels, K = classes present. float32 (C,).

    The 1/K makes the average weight over the counted pixels exactly 1, so the loss keeps its
    magnitude (and the learning rate its meaning); a balanced set gets all ones.
    """
    present = counts.pixels > 0
    frequency = counts.pixels / max(counts.pixels.sum(), 1)
    weights = np.zeros(counts.num_classes)
    weights[present] = 1.0 / (present.sum() * frequency[present])
    return _finish(weights, max_weight)


def median_frequency_weights(counts: ClassCounts, max_weight: float | None = None) -> torch.Tensor:
    """Median-frequency balancing (Eigen & Fergus 2015, as in SegNet): w_c = median(f) / f_c, with
    f_c = pixels of c / labelled pixels of the images where c occurs. float32 (C,); the median class
    gets 1. Compared with inverse frequency, a class that is rare because it is in few images (not
    because it is small) is boosted less."""
    present = counts.pixels > 0
    weights = np.zeros(counts.num_classes)
    if present.any():
        frequency = counts.pixels[present] / counts.pixels_in_images[present]
        weights[present] = np.median(frequency) / frequency
    return _finish(weights, max_weight)
