"""Segmentation metrics from one confusion matrix accumulated over a whole split.

Every figure is computed from the summed matrix, never as a mean of per-batch or per-image
figures: that is how papers report mIoU, and it weighs every pixel of the split equally.

    confusion[t, p] = number of pixels of true class t predicted as p   (ignore pixels left out)
    IoU_c           = TP_c / (TP_c + FP_c + FN_c)
    mIoU            = mean of IoU_c over the classes present in ground truth or prediction
                      (a class absent from both has 0/0: undefined, reported as None and left out)
    pixel accuracy  = sum_c TP_c / all counted pixels                       (micro average)
    mean class acc. = mean over classes present in ground truth of TP_c / (TP_c + FN_c)   (macro)
    Dice_c (= F1_c) = 2 TP_c / (2 TP_c + FP_c + FN_c)
    mean Dice       = mean of Dice_c over the same classes as mIoU                        (macro)

Macro averages give every class the same say however many pixels it has (a pole counts as much as
the road), which is what mIoU is for; pixel accuracy is the one micro average, and is dominated by
the big classes. docs/training.md says more.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pixelseg.data.folder import IGNORE_INDEX


class ConfusionMatrix:
    """Accumulates a (num_classes, num_classes) int64 confusion matrix over batches."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, device: str | torch.device = "cpu"):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: prediction and target are class indices of the same shape, e.g. (B, H, W)."""
        if prediction.shape != target.shape:
            raise ValueError(f"prediction shape {tuple(prediction.shape)} differs from target shape {tuple(target.shape)}")
        valid = target != self.ignore_index
        t = target[valid].long()
        p = prediction[valid].long()
        if t.numel() and (int(t.max()) >= self.num_classes or int(t.min()) < 0):
            raise ValueError(f"target holds class ids outside 0..{self.num_classes - 1} (and {self.ignore_index} = ignore)")
        counts = torch.bincount(t * self.num_classes + p, minlength=self.num_classes**2)
        self.matrix += counts.view(self.num_classes, self.num_classes).to(self.matrix.device)

    def reset(self) -> None:
        self.matrix.zero_()

    def compute(self) -> "SegmentationScores":
        return scores_from_confusion(self.matrix)


@dataclass
class SegmentationScores:
    miou: float
    pixel_accuracy: float
    mean_class_accuracy: float
    per_class_iou: list[float | None]
    per_class_dice: list[float | None]
    mean_dice: float = float("nan")
    per_class_accuracy: list[float | None] | None = None

    def as_dict(self, class_names: list[str] | None = None) -> dict:
        names = class_names or [str(i) for i in range(len(self.per_class_iou))]
        return {
            "miou": self.miou,
            "pixel_accuracy": self.pixel_accuracy,
            "mean_class_accuracy": self.mean_class_accuracy,
            "mean_dice": self.mean_dice,
            "per_class_iou": dict(zip(names, self.per_class_iou)),
            "per_class_dice": dict(zip(names, self.per_class_dice)),
            "per_class_accuracy": dict(zip(names, self.per_class_accuracy or [None] * len(names))),
        }


def _nan_to_none(values: torch.Tensor) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]


def _nanmean(values: torch.Tensor) -> float:
    present = values[~values.isnan()]
    return float(present.mean()) if present.numel() else float("nan")


def scores_from_confusion(matrix: torch.Tensor) -> SegmentationScores:
    """All scores from a confusion matrix (rows = truth, columns = prediction)."""
    m = matrix.double()
    tp = m.diag()
    fp = m.sum(0) - tp
    fn = m.sum(1) - tp
    union = tp + fp + fn
    nan = torch.full_like(tp, float("nan"))
    iou = torch.where(union > 0, tp / union.clamp(min=1), nan)
    dice = torch.where(union > 0, 2 * tp / (2 * tp + fp + fn).clamp(min=1), nan)
    support = tp + fn
    class_accuracy = torch.where(support > 0, tp / support.clamp(min=1), nan)
    total = m.sum()
    return SegmentationScores(
        miou=_nanmean(iou),
        pixel_accuracy=float(tp.sum() / total) if total > 0 else float("nan"),
        mean_class_accuracy=_nanmean(class_accuracy),
        per_class_iou=_nan_to_none(iou),
        per_class_dice=_nan_to_none(dice),
        mean_dice=_nanmean(dice),
        per_class_accuracy=_nan_to_none(class_accuracy),
    )


def edge_band(target: torch.Tensor, width: int, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """`target` (..., H, W) class ids with every pixel farther than `width` pixels (in the max
    norm) from a change of class set to `ignore_index`: fed to a ConfusionMatrix it scores only
    the band around the true edges, where a refinement helps or hurts (the interior and the far
    background would drown it). Ignore pixels count as no class; the image border is no edge."""
    shape = target.shape
    ids = target.reshape(-1, 1, *shape[-2:]).float()                           # (N, 1, H, W)
    ignored = ids == ignore_index
    size, pad = 2 * width + 1, width
    highest = torch.nn.functional.max_pool2d(ids.masked_fill(ignored, -1), size, 1, pad)
    lowest = -torch.nn.functional.max_pool2d(-ids.masked_fill(ignored, float(ignore_index) + 1), size, 1, pad)
    band = (highest != lowest) & ~ignored
    return torch.where(band, ids, float(ignore_index)).to(target.dtype).reshape(shape)
