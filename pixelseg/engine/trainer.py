"""The training loop: one readable function, `train(config)`.

    data folder -> SegmentationFolder + joint augmentation -> model (registry)
    -> loss (ce | dice | ce+dice | focal; 255 ignored) -> AdamW or SGD, warm-up + poly/cosine
    -> every epoch: validation confusion matrix -> metrics.csv, TensorBoard, curves.png,
       predictions/epoch_XXX.png, best.pt, last.pt
    until --epochs, --time-budget or --patience ends it.

A run folder holds everything: config.yaml (the full configuration: `pixelseg train --config
RUN/config.yaml` runs it again), last.pt (the full state: `pixelseg train --resume RUN` continues
from it exactly), best.pt (the weights of the best validation mIoU), metrics.csv, curves.png,
tb/ (TensorBoard events) and predictions/.

Under torchrun every process runs this same function on its own shard (engine/distributed.py);
only rank 0 writes files.
"""
from __future__ import annotations

import csv
import io
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pixelseg.data.collate import pad_collate
from pixelseg.data.folder import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD, SegmentationFolder, normalize
from pixelseg.data.transforms import AugmentConfig, train_transform
from pixelseg.engine import distributed
from pixelseg.engine.checkpoint import atomic_save, checkpoint_payload, load_checkpoint, rng_state, set_rng_state
from pixelseg.engine.config import ConfigError, TrainConfig, write_config
from pixelseg.engine.evaluator import evaluate
from pixelseg.engine.schedules import lr_factor, step_progress
from pixelseg.errors import DataError, TrainingError
from pixelseg.losses import build_loss
from pixelseg.models.registry import create_model
from pixelseg.runtime.device import resolve_device
from pixelseg.runtime.precision import autocast
from pixelseg.temporary import create_temporary
from pixelseg.viz.plots import plot_curves, prediction_grid

__all__ = ["TrainConfig", "AugmentConfig", "train", "seed_everything"]

METRIC_COLUMNS = ["epoch", "step", "train_loss", "val_loss", "val_miou", "val_pixel_accuracy", "val_mean_class_accuracy",
                  "val_mean_dice", "lr", "seconds", "elapsed"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(config: TrainConfig, progress: bool = True, resume: bool = False, on_epoch_end=None) -> dict:
    """Train, validating every epoch; returns the best epoch's validation scores (as a dict).

    resume: continue the run in config.out from its last.pt — model, optimizer, schedule, epoch,
        early-stopping state, elapsed time and every random state — so that the result equals an
        uninterrupted run's. An interrupted epoch is run again from its start.
    on_epoch_end: called as on_epoch_end(row) on every process after each epoch's checkpoints,
        row = that epoch's metrics.csv values as a dict.
    """
    config.check()
    device = distributed.local_device(resolve_device(config.device))
    owns_group = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    world = distributed.setup(device)
    try:
        return _train(config, device, world, progress and world.is_main, resume, on_epoch_end)
    finally:
        if owns_group:
            distributed.cleanup()


def _train(config: TrainConfig, device: torch.device, world: distributed.DistInfo, progress: bool, resume: bool, on_epoch_end) -> dict:
    out = Path(config.out)
    main = world.is_main
    if config.precision == "fp16" and device.type != "cuda":
        raise ConfigError("fp16 needs CUDA (its GradScaler does not run on the CPU); use --precision bf16 on a CPU")
    if config.sync_bn and world.enabled and device.type != "cuda":
        raise ConfigError("sync_bn needs CUDA (torch's SyncBatchNorm has no CPU kernel); on CPU use freeze_bn, or neither")

    # Same seed on every rank: every process builds identical initial weights (DDP also broadcasts
    # rank 0's). Re-seeded per rank below, so the ranks' augmentations differ.
    seed_everything(config.seed)

    # ---- data -------------------------------------------------------------------------------
    train_set = SegmentationFolder(config.data, config.train_split, transform=augmentation(config.augment))
    val_set = SegmentationFolder(config.data, config.val_split)
    # Read and check every file before the first step: a bad mask fails now, not in epoch 7.
    for dataset, purpose in ((train_set, "nothing to learn from"), (val_set, "no score to keep a best.pt by")):
        dataset.check_all()
        # All ignore trains on a loss of 0 and validates to an mIoU of nan, silently: refuse it.
        if not any((dataset.load(i)[1] != IGNORE_INDEX).any() for i in range(len(dataset))):
            raise DataError(f"{dataset.root / 'masks' / dataset.split}: every pixel of all {len(dataset)} masks is {IGNORE_INDEX} (ignore): "
                            f"{purpose} (check the masks with `pixelseg data check {dataset.root}`)")
    classes, num_classes = train_set.classes, train_set.num_classes
    # The epoch's order is a function of (seed, epoch) alone (sampler.set_epoch), the same with any
    # number of processes: rank r takes every world_size-th index of one permutation, so a global
    # batch under torchrun holds exactly the images of the same step in a single process.
    train_sampler = torch.utils.data.DistributedSampler(train_set, world.world_size, world.rank, shuffle=config.shuffle,
                                                        seed=config.seed, drop_last=world.enabled)
    generator = torch.Generator().manual_seed(config.seed + world.rank)  # worker seeds
    shard = len(train_sampler)
    if shard == 0:
        raise DataError(f"{config.data}: {len(train_set)} training images cannot feed {world.world_size} processes")
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=config.batch_size, sampler=train_sampler, drop_last=shard > config.batch_size,
        collate_fn=pad_collate, num_workers=config.num_workers, generator=generator, persistent_workers=config.num_workers > 0,
    )
    # Validation: a plain shard per rank (every world_size-th image), no padding with repeats, so each
    # image is counted exactly once when the ranks' confusion matrices are summed.
    val_indices = list(range(world.rank, len(val_set), world.world_size))
    val_loader = torch.utils.data.DataLoader(torch.utils.data.Subset(val_set, val_indices), batch_size=config.batch_size,
                                             collate_fn=pad_collate, num_workers=config.num_workers)

    # ---- model, loss, optimizer -------------------------------------------------------------
    model = create_model(config.model, num_classes, **config.model_options)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    if config.sync_bn and world.enabled:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    raw_model = model
    if world.enabled:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    loss_fn = build_loss(config.loss, class_weights(config, train_set), weights=config.loss_weights, gamma=config.focal_gamma,
                         smooth=config.dice_smooth).to(device)
    optimizer = build_optimizer(config, raw_model)
    scaler = torch.amp.GradScaler("cuda", enabled=config.precision == "fp16")
    steps_per_epoch = len(train_loader)
    total_steps = config.epochs * steps_per_epoch if config.epochs else None
    warmup = config.warmup_steps if total_steps is None else min(config.warmup_steps, total_steps // 5 + 1)

    # ---- where we start: fresh, or from last.pt -------------------------------------------
    step, epoch, elapsed, best_miou, best_epoch, best_scores, history = 0, 0, 0.0, -1.0, 0, {}, []
    if resume:
        state = load_checkpoint(out / "last.pt")
        if state.get("classes") != classes:
            raise DataError(f"{config.data}: classes {classes} differ from the run's {state.get('classes')}")
        raw_model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        if "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        step, epoch, elapsed = state["scheduler"]["step"], state["epoch"], state["elapsed"]
        best_miou, best_epoch, history = state["best_miou"], state["best_epoch"], state["history"]
        best_scores = state.get("best_metrics", {})
        rngs = state["rng"]
        if len(rngs) != world.world_size:
            raise ConfigError(f"{out / 'last.pt'} was written by {len(rngs)} process(es); resume it with as many, not {world.world_size}")
        set_rng_state(rngs[world.rank], generator)
    else:
        torch.manual_seed(config.seed + world.rank)  # per-rank augmentation (rank 0: same as one process)
    writer = None
    if main:
        out.mkdir(parents=True, exist_ok=True)
        write_config(config, out / "config.yaml")
        for partial in out.glob(".*.tmp"):  # what a killed atomic_save left behind (never a .pt)
            partial.unlink()
        if not resume:  # outputs of an earlier run in this folder would mix with ours
            for stale in [*out.glob("tb/events.out.tfevents.*"), *out.glob("predictions/epoch_*.png")]:
                stale.unlink()
        write_metrics(out / "metrics.csv", history)  # on resume: exactly the checkpoint's epochs
        writer = tensorboard_writer(out / "tb", purge_step=step if resume else None)
    # Fixed preview images, spread over the split (neighbouring files are often frames of one video).
    count = min(config.preview_images, len(val_set))
    preview_ids = sorted({round(i * (len(val_set) - 1) / max(count - 1, 1)) for i in range(count)})
    previews = [val_set.load(i) for i in preview_ids] if main else []
    val_pixels = sum(val_set.load(i)[1].size for i in val_indices)  # this rank's share, for the time estimate below

    def progress_at(clock: float) -> float:
        """Fraction of the run done (0..1): by steps, by time, or whichever is further along."""
        done = step_progress(step, total_steps, warmup) if total_steps else 0.0
        if config.time_budget:
            done = max(done, clock / (60 * config.time_budget))
        return done

    started = time.perf_counter() - elapsed  # continues a resumed run's clock
    elapsed_now = lambda: time.perf_counter() - started  # noqa: E731
    # `clock`: seconds into the run as all ranks agree on it (their mean), refreshed every step.
    clock, last_val_seconds, stop_reason, epochs_text, lr = elapsed, 0.0, None, config.epochs or "?", float("nan")
    while stop_reason is None:
        if config.epochs and epoch >= config.epochs:
            break
        clock = agreed_clock(elapsed_now(), world, device)
        if config.time_budget and clock + last_val_seconds >= 60 * config.time_budget:
            stop_reason = f"time budget of {config.time_budget:g} min used"
            break
        epoch += 1
        epoch_started = time.perf_counter()
        train_sampler.set_epoch(epoch)
        set_train_mode(model, config.freeze_bn)
        running, seen, train_pixels = 0.0, 0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs_text}", disable=not progress, unit="batch", leave=False)
        for images, masks in bar:
            images = images.to(device, memory_format=memory_format, non_blocking=True)  # (B, 3, H, W)
            masks = masks.to(device, non_blocking=True)                                  # (B, H, W)
            lr = config.lr * lr_factor(config.schedule, step, progress_at(clock), warmup, min_factor=config.min_lr_factor)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast(device, config.precision):
                logits = model(images)                                                   # (B, C, H, W)
            loss = loss_fn(logits, masks)
            # Time the coming validation will take: the last one's, or before the first, a guess from
            # this epoch's training speed (a forward pass costs about a third of forward + backward;
            # counted as half, to err on the safe side).
            train_pixels += images.shape[0] * images.shape[-2] * images.shape[-1]
            val_reserve = last_val_seconds or (time.perf_counter() - epoch_started) / train_pixels * val_pixels / 2
            # One small all-reduce per step gives every rank the global mean loss (for the NaN check:
            # all ranks must stop together, or the others would wait forever in the next collective)
            # and the mean clock and reserve (every rank must agree on the learning rate and on when
            # time is up).
            shared = distributed.all_reduce_sum(torch.tensor([loss.item(), elapsed_now(), val_reserve], dtype=torch.float64, device=device))
            loss_value, clock, val_reserve = (shared / world.world_size).tolist()
            if not math.isfinite(loss_value):
                raise TrainingError(non_finite_message(loss_value, epoch, seen + 1, out))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.grad_clip:
                scaler.unscale_(optimizer)  # clip the true gradients, not the fp16-scaled ones
                torch.nn.utils.clip_grad_norm_(raw_model.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            step += 1
            running += loss_value
            seen += 1
            bar.set_postfix(loss=f"{running / seen:.4f}", lr=f"{lr:.2e}")
            if writer is not None and step % 10 == 0:
                writer.add_scalar("train/loss_step", loss_value, step)
                writer.add_scalar("train/lr", lr, step)
            # Time is up when what is left would not hold this epoch's validation as well.
            if config.time_budget and clock + val_reserve >= 60 * config.time_budget:
                stop_reason = f"time budget of {config.time_budget:g} min used"
                break
        bar.close()

        val_started = time.perf_counter()
        confusion, val_loss = evaluate(raw_model, val_loader, num_classes, device, config.precision, loss_fn, progress,
                                       config.channels_last, all_ranks=True)
        last_val_seconds = agreed_clock(time.perf_counter() - val_started, world, device)
        scores = confusion.compute()
        if val_loss is not None and not math.isfinite(val_loss):
            raise TrainingError(non_finite_message(val_loss, epoch, None, out))
        row = {"epoch": epoch, "step": step, "train_loss": running / max(seen, 1), "val_loss": val_loss, "val_miou": scores.miou,
               "val_pixel_accuracy": scores.pixel_accuracy, "val_mean_class_accuracy": scores.mean_class_accuracy,
               "val_mean_dice": scores.mean_dice, "lr": lr if seen else float("nan"),
               "seconds": time.perf_counter() - epoch_started, "elapsed": 0.0}
        history.append(row)
        improved = scores.miou > best_miou
        if improved:
            best_miou, best_epoch, best_scores = scores.miou, epoch, scores.as_dict(classes)
        if config.patience and epoch - best_epoch >= config.patience:
            stop_reason = stop_reason or f"no better val mIoU for {config.patience} epochs (best {best_miou:.4f} at epoch {best_epoch})"
        # Everyone's random state, gathered to rank 0 (a collective: all ranks take part).
        mine = rng_state(generator)
        rngs = distributed.all_gather_objects(mine)
        # The clock stops here for the checkpoint; writing files counts towards the next stretch.
        row["elapsed"] = elapsed_now()

        if main:
            summary = scores.as_dict(classes)
            slim = checkpoint_payload(raw_model, classes, IMAGENET_MEAN, IMAGENET_STD, epoch=epoch, metrics=summary, config=config.as_dict(),
                                      inference={"input_size": config.input_size} if config.input_size else {})
            # best.pt before last.pt: a kill between the two leaves last.pt at the previous epoch, and
            # the resumed run repeats this epoch exactly and writes both again.
            if improved:
                atomic_save(slim, out / "best.pt")
            full = {**slim, "optimizer": optimizer.state_dict(), "scheduler": {"step": step}, "elapsed": row["elapsed"],
                    "best_miou": best_miou, "best_epoch": best_epoch, "best_metrics": best_scores, "history": history, "rng": rngs}
            if scaler.is_enabled():
                full["scaler"] = scaler.state_dict()
            atomic_save(full, out / "last.pt")
            write_metrics(out / "metrics.csv", history)
            write_tensorboard(writer, row, summary, step)
            plot_curves(out / "metrics.csv", out / "curves.png", loss_name=config.loss)
            if previews:
                draw_previews(raw_model, previews, device, config, out / "predictions" / f"epoch_{epoch:03d}.png")
            if progress:
                tqdm.write(f"epoch {epoch}: train loss {row['train_loss']:.4f}  val loss {val_loss:.4f}  val mIoU {scores.miou:.4f}  "
                           f"pixel acc. {scores.pixel_accuracy:.4f}  ({row['seconds']:.0f} s)")
        # Whatever the file writing drew from the random generators (nothing today) must not make the
        # next epoch differ from a resumed run's, which starts from `mine`.
        set_rng_state(mine, generator)
        # Everyone waits for rank 0's files: a resume must never find a half-finished epoch.
        distributed.barrier()
        if on_epoch_end is not None:
            on_epoch_end(dict(row))
    if writer is not None:
        writer.close()
    if progress and stop_reason:
        tqdm.write(f"stopped: {stop_reason}")
    return best_scores


# ---- the pieces the loop calls --------------------------------------------------------------


def augmentation(augment: AugmentConfig):
    """The joint training transform, or None when the config asks for no augmentation at all
    (train_transform cannot build an empty pipeline)."""
    a = augment
    if tuple(a.scale) == (1.0, 1.0) and not (a.rotation or a.crop_size or a.hflip or a.vflip or a.color_jitter):
        return None
    return train_transform(a)


def class_weights(config: TrainConfig, train_set: SegmentationFolder) -> torch.Tensor | None:
    """Per-class loss weights: none, inverse or median frequency of the training masks, or from a file."""
    choice = config.class_weights
    if choice in (None, "none"):
        return None
    num_classes = train_set.num_classes
    if choice in ("inverse", "median"):
        from pixelseg.data.class_weights import count_classes, inverse_frequency_weights, median_frequency_weights

        # The masks as stored (before augmentation), from the cache check_all() filled.
        counts = count_classes((train_set.load(i)[1] for i in range(len(train_set))), num_classes)
        weigh = inverse_frequency_weights if choice == "inverse" else median_frequency_weights
        return weigh(counts, max_weight=config.max_class_weight)
    path = Path(choice)
    if not path.is_file():
        raise ConfigError(f"class_weights must be none, inverse, median or a file of {num_classes} numbers; {path} is not a file")
    try:
        values = [float(v) for v in path.read_text().replace(",", " ").split()]
    except ValueError:
        raise ConfigError(f"{path}: class weights must be numbers (whitespace or comma separated)") from None
    if len(values) != num_classes:
        raise ConfigError(f"{path}: {len(values)} class weights, but the data has {num_classes} classes")
    return torch.tensor(values, dtype=torch.float32)


def build_optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """AdamW or SGD. Weight decay on weight matrices and kernels only: decaying BatchNorm scales and
    biases only pulls them towards 0 and costs accuracy (as in nanoGPT and most recipes)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0)
    return torch.optim.AdamW(groups, lr=config.lr)


def set_train_mode(model: torch.nn.Module, freeze_bn: bool) -> None:
    """model.train(); with freeze_bn, BatchNorm layers stay in eval mode: they normalise with their
    running statistics (and stop updating them), so no sample's output depends on the others in
    its batch. Their scale and shift still learn."""
    model.train()
    if freeze_bn:
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


def agreed_clock(seconds: float, world: distributed.DistInfo, device: torch.device) -> float:
    """The mean of the ranks' clocks (just `seconds` in one process): decisions taken by time must be
    the same on every rank."""
    if not world.enabled:
        return seconds
    return float(distributed.all_reduce_sum(torch.tensor([seconds], dtype=torch.float64, device=device))) / world.world_size


def non_finite_message(value: float, epoch: int, step: int | None, out: Path) -> str:
    where = f"epoch {epoch}, step {step}" if step else f"validation of epoch {epoch}"
    kept = f"the last good checkpoint is {out / 'last.pt'}" if (out / "last.pt").is_file() else "no checkpoint was written yet"
    return f"loss became {value} at {where}; stopped, {kept} (lower --lr, add --grad-clip, or check the data)"


def write_metrics(path: Path, history: list[dict]) -> None:
    """metrics.csv, rewritten whole (atomically) every epoch: a killed run never leaves half a row."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    fd, tmp = create_temporary(path.parent, ".metrics.")  # mode per umask, not mkstemp's 0600
    with os.fdopen(fd, "w", newline="") as f:
        f.write(buffer.getvalue())
    os.replace(tmp, path)


def tensorboard_writer(log_dir: Path, purge_step: int | None):
    """A SummaryWriter; purge_step drops events a killed run logged after its last checkpoint."""
    from torch.utils.tensorboard import SummaryWriter  # imported late: it pulls in tensorboard (a second)

    return SummaryWriter(str(log_dir), purge_step=purge_step)


def write_tensorboard(writer, row: dict, summary: dict, step: int) -> None:
    for key in ("train_loss", "val_loss", "val_miou", "val_pixel_accuracy", "val_mean_class_accuracy", "val_mean_dice"):
        if row[key] is not None:
            writer.add_scalar(key.replace("_", "/", 1), row[key], step)
    for name, iou in summary["per_class_iou"].items():
        if iou is not None:
            writer.add_scalar(f"val_iou/{name}", iou, step)
    writer.flush()


@torch.no_grad()
def draw_previews(model, previews, device, config: TrainConfig, path: Path) -> None:
    """The grid of the fixed validation images: image | truth | prediction."""
    model.eval()
    predictions = []
    for image, _ in previews:
        x = normalize(torch.from_numpy(image).permute(2, 0, 1), IMAGENET_MEAN, IMAGENET_STD)[None]  # (1, 3, H, W)
        with autocast(device, config.precision):
            logits = model(x.to(device))                                                          # (1, C, H, W)
        predictions.append(logits[0].argmax(0).cpu().numpy())
    prediction_grid([i for i, _ in previews], [m for _, m in previews], predictions, path)
