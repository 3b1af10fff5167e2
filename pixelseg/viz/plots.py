"""Plots written as PNG: training curves, prediction grids, confusion matrices."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no screen on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_curves(metrics_csv: str | Path, out: str | Path, loss_name: str = "loss") -> Path:
    """Loss and validation mIoU per epoch from metrics.csv, side by side."""
    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    epochs = [int(r["epoch"]) for r in rows]
    fig, (ax_loss, ax_iou) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, [float(r["train_loss"]) for r in rows], marker="o", label="train loss")
    if rows and rows[0].get("val_loss"):
        ax_loss.plot(epochs, [float(r["val_loss"]) for r in rows], marker="o", label="val loss")
    ax_loss.set(xlabel="epoch", ylabel=loss_name, title="loss")
    ax_loss.legend()
    ax_iou.plot(epochs, [float(r["val_miou"]) for r in rows], marker="o", color="tab:green", label="val mIoU")
    ax_iou.plot(epochs, [float(r["val_pixel_accuracy"]) for r in rows], marker=".", color="tab:gray", label="val pixel acc.")
    ax_iou.set(xlabel="epoch", ylim=(0, 1), title="validation")
    ax_iou.legend()
    for ax in (ax_loss, ax_iou):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return Path(out)


def plot_confusion(matrix: np.ndarray, class_names: list[str], out: str | Path) -> Path:
    """Row-normalised confusion matrix (rows = truth) as a heatmap with the fractions written in."""
    matrix = np.asarray(matrix, dtype=np.float64)
    rows = matrix.sum(1, keepdims=True)
    norm = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    n = len(class_names)
    size = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=90)
    ax.set_yticks(range(n), class_names)
    ax.set(xlabel="predicted", ylabel="true", title="confusion (row-normalised)")
    if n <= 20:
        for t in range(n):
            for p in range(n):
                ax.text(p, t, f"{norm[t, p]:.2f}", ha="center", va="center", fontsize=7, color="white" if norm[t, p] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return Path(out)


def prediction_grid(images: list[np.ndarray], truths: list[np.ndarray], predictions: list[np.ndarray], out: str | Path,
                    max_side: int = 128) -> Path:
    """One row per image: the image, its true mask, the predicted mask (class colours; ignore white).

    images (H, W, 3) uint8, masks (H, W) class ids. Each tile is shrunk to at most `max_side`
    pixels on its longer side (masks with nearest neighbour), so a grid per epoch stays small.
    """
    from PIL import Image

    from pixelseg.viz.palette import colorize

    rows = []
    for image, truth, prediction in zip(images, truths, predictions):
        height, width = image.shape[:2]
        scale = min(1.0, max_side / max(height, width))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL: (W, H)
        tiles = [
            Image.fromarray(image).resize(size, Image.BILINEAR),
            Image.fromarray(colorize(truth.astype(np.uint8))).resize(size, Image.NEAREST),
            Image.fromarray(colorize(prediction.astype(np.uint8))).resize(size, Image.NEAREST),
        ]
        rows.append(np.concatenate([np.asarray(t) for t in tiles], axis=1))   # (h, 3w, 3)
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]  # 2-px gaps
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(out, optimize=True)
    return Path(out)
