"""The training loop: one readable function, `train(config)`.

    data folder -> SegmentationFolder + joint augmentation -> model (registry)
    -> cross-entropy (255 ignored) -> AdamW + warm-up/poly schedule
    -> every epoch: validation confusion matrix -> metrics.csv, curves.png, last.pt, best.pt
"""
from __future__ import annotations

import csv
import dataclasses
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pixelseg.data.collate import pad_collate
from pixelseg.data.folder import IMAGENET_MEAN, IMAGENET_STD, SegmentationFolder
from pixelseg.data.transforms import AugmentConfig, train_transform
from pixelseg.engine.checkpoint import atomic_save, checkpoint_payload
from pixelseg.engine.evaluator import autocast, evaluate
from pixelseg.errors import TrainingError
from pixelseg.losses import build_loss
from pixelseg.models.registry import create_model
from pixelseg.viz.plots import plot_curves

METRIC_COLUMNS = ["epoch", "train_loss", "val_loss", "val_miou", "val_pixel_accuracy", "lr", "seconds"]


@dataclass
class TrainConfig:
    data: str
    out: str = "runs/train"
    model: str = "unet"
    model_options: dict = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    loss: str = "ce"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train_split: str = "train"
    val_split: str = "val"
    precision: str = "fp32"
    channels_last: bool = True
    device: str = "auto"
    num_workers: int = 0
    seed: int = 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def warmup_poly(total_steps: int, warmup_steps: int, power: float = 0.9):
    """Learning-rate factor per step: linear warm-up, then polynomial decay to 0 (DeepLab's "poly")."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return max(0.0, 1 - progress) ** power

    return factor


def train(config: TrainConfig, progress: bool = True) -> dict:
    """Train, validating every epoch; returns the best epoch's validation scores (as a dict)."""
    seed_everything(config.seed)
    device = resolve_device(config.device)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)

    train_set = SegmentationFolder(config.data, config.train_split, transform=train_transform(config.augment))
    val_set = SegmentationFolder(config.data, config.val_split)
    # Read and check every file before the first step: a bad mask fails now, not in epoch 7.
    for dataset in (train_set, val_set):
        dataset.check_all()
    classes = train_set.classes
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=config.batch_size, shuffle=True, drop_last=len(train_set) > config.batch_size,
        collate_fn=pad_collate, num_workers=config.num_workers, generator=generator, persistent_workers=config.num_workers > 0,
    )
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=config.batch_size, collate_fn=pad_collate, num_workers=config.num_workers)

    model = create_model(config.model, len(classes), **config.model_options).to(device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    loss_fn = build_loss(config.loss).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_steps = config.epochs * len(train_loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_poly(total_steps, min(config.warmup_steps, total_steps // 5 + 1)))

    metrics_path = out / "metrics.csv"
    with open(metrics_path, "w", newline="") as f:
        csv.writer(f).writerow(METRIC_COLUMNS)
    best_miou, best_scores = -1.0, {}
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        running, seen = 0.0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{config.epochs}", disable=not progress, unit="batch")
        for images, masks in bar:
            images = images.to(device, memory_format=memory_format, non_blocking=True)  # (B, 3, H, W)
            masks = masks.to(device, non_blocking=True)                                  # (B, H, W)
            with autocast(device, config.precision):
                logits = model(images)                                                   # (B, C, H, W)
            loss = loss_fn(logits, masks)
            if not math.isfinite(loss.item()):
                raise TrainingError(
                    f"loss became {loss.item()} at epoch {epoch}, step {seen + 1}; stopped. "
                    f"The last good checkpoint is {out / 'last.pt'} (lower --lr, or check the data)"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += loss.item()
            seen += 1
            bar.set_postfix(loss=f"{running / seen:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")

        confusion, val_loss = evaluate(model, val_loader, len(classes), device, config.precision, loss_fn, progress, config.channels_last)
        scores = confusion.compute()
        row = [epoch, running / max(seen, 1), val_loss, scores.miou, scores.pixel_accuracy, scheduler.get_last_lr()[0], time.perf_counter() - started]
        with open(metrics_path, "a", newline="") as f:
            csv.writer(f).writerow(row)
        plot_curves(metrics_path, out / "curves.png")

        summary = scores.as_dict(classes)
        payload = checkpoint_payload(model, classes, IMAGENET_MEAN, IMAGENET_STD, epoch=epoch, metrics=summary, config=config.as_dict())
        atomic_save(payload, out / "last.pt")
        if scores.miou > best_miou:
            best_miou, best_scores = scores.miou, summary
            atomic_save(payload, out / "best.pt")
        if progress:
            tqdm.write(f"epoch {epoch}: train loss {row[1]:.4f}  val loss {val_loss:.4f}  val mIoU {scores.miou:.4f}  pixel acc. {scores.pixel_accuracy:.4f}")
    return best_scores
