"""The training loop, `train(config)`: `_train` reads top to bottom (set up, then per epoch
train_one_epoch, validate, save_epoch), the pieces below it in that order.

    data folder -> SegmentationFolder + joint augmentation -> model (registry)
    -> loss (ce | dice | ce+dice | focal | ohem | ohem+dice; 255 ignored; multiclass or binary mode) -> AdamW or SGD, warm-up + poly/cosine
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
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pixelseg.data.collate import pad_collate
from pixelseg.data.folder import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD, SegmentationFolder, normalize
from pixelseg.data.groups import group_split
from pixelseg.data.transforms import AugmentConfig, train_transform
from pixelseg.engine import distributed
from pixelseg.engine.checkpoint import atomic_save, checkpoint_mode, checkpoint_payload, load_checkpoint, rng_state, set_rng_state
from pixelseg.engine.config import ConfigError, TrainConfig, write_config
from pixelseg.engine.distill import Teacher, distillation_loss, load_teacher
from pixelseg.engine.evaluator import evaluate
from pixelseg.engine.schedules import lr_factor, step_progress
from pixelseg.errors import DataError, TrainingError
from pixelseg.losses import build_loss
from pixelseg.models.registry import create_model
from pixelseg.runtime.allocator import keep_freed_memory
from pixelseg.runtime.device import resolve_device
from pixelseg.runtime.outputs import class_ids, mode_of, output_maps
from pixelseg.runtime.precision import autocast
from pixelseg.temporary import remove_stale_temporaries, write_text_atomically
from pixelseg.viz.plots import plot_curves, prediction_grid

__all__ = ["TrainConfig", "AugmentConfig", "train", "seed_everything"]

# What a run writes atomically in its folder; a killed write's temporaries for these are swept at the start.
RUN_OUTPUTS = ("best.pt", "last.pt", "config.yaml", "metrics.csv")

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
    with distributed.process_group(device) as world:
        return _train(config, device, world, progress and world.is_main, resume, on_epoch_end)


def _train(config: TrainConfig, device: torch.device, world: distributed.DistInfo, progress: bool, resume: bool, on_epoch_end) -> dict:
    """The whole run, top to bottom: set up, then epoch after epoch train, validate, save."""
    out = Path(config.out)
    check_hardware(config, device, world)
    if device.type == "cpu":
        keep_freed_memory()  # every step reuses the last step's pages instead of faulting in new ones
    # Same seed on every rank: every process builds identical initial weights (DDP also broadcasts
    # rank 0's). Re-seeded per rank below, so the ranks' augmentations differ.
    seed_everything(config.seed)
    data = build_data(config, world)
    parts = build_parts(config, device, world, data.train_set)
    if resume:
        run = restore(out / "last.pt", parts, data, world)
    else:
        run = RunState()
        torch.manual_seed(config.seed + world.rank)  # per-rank augmentation (rank 0: same as one process)
    writer = prepare_folder(config, out, run, resume) if world.is_main else None
    previews = preview_images(data.val_set, config.preview_images) if world.is_main else []
    val_pixels = sum(data.val_set.load(i)[1].size for i in data.val_indices)  # this rank's share, for the time budget
    budget = TimeBudget(config.time_budget, run.elapsed, val_pixels, world, device)
    steps_per_epoch = len(data.train_loader)
    total_steps = config.epochs * steps_per_epoch if config.epochs else None
    warmup = config.warmup_steps if total_steps is None else min(config.warmup_steps, total_steps // 5 + 1)

    def lr_at(step: int, clock: float) -> float:
        """The learning rate of the coming step. Progress (0..1): by steps, by time, or whichever is further along."""
        done = step_progress(step, total_steps, warmup) if total_steps else 0.0
        if config.time_budget:
            done = max(done, clock / (60 * config.time_budget))
        return config.lr * lr_factor(config.schedule, step, done, warmup, min_factor=config.min_lr_factor)

    stop_reason = None
    while stop_reason is None and not (config.epochs and run.epoch >= config.epochs):
        if budget.start_epoch():
            stop_reason = budget.reason
            break
        run.epoch += 1
        data.train_sampler.set_epoch(run.epoch)
        train_loss, lr, time_up = train_one_epoch(parts, data.train_loader, config, device, world, run, budget, lr_at, writer, progress, out)
        if time_up:
            stop_reason = budget.reason
        scores, val_loss = validate(parts, data, config, device, budget, run.epoch, progress, out)
        row = {"epoch": run.epoch, "step": run.step, "train_loss": train_loss, "val_loss": val_loss, "val_miou": scores.miou,
               "val_pixel_accuracy": scores.pixel_accuracy, "val_mean_class_accuracy": scores.mean_class_accuracy,
               "val_mean_dice": scores.mean_dice, "lr": lr, "seconds": time.perf_counter() - budget.epoch_started, "elapsed": 0.0}
        improved = run.record(row, scores, data.train_set.classes)
        if config.patience and run.epoch - run.best_epoch >= config.patience:
            stop_reason = stop_reason or f"no better val mIoU for {config.patience} epochs (best {run.best_miou:.4f} at epoch {run.best_epoch})"
        # Everyone's random state, gathered to rank 0 (a collective: all ranks take part).
        mine = rng_state(data.generator)
        rngs = distributed.all_gather_objects(mine)
        # The clock stops here for the checkpoint; writing files counts towards the next stretch.
        row["elapsed"] = budget.now()
        if world.is_main:
            save_epoch(parts, config, out, run, row, scores, improved, rngs, data.train_set.classes, writer, previews, device)
            if progress:
                tqdm.write(f"epoch {run.epoch}: train loss {row['train_loss']:.4f}  val loss {val_loss:.4f}  val mIoU {scores.miou:.4f}  "
                           f"pixel acc. {scores.pixel_accuracy:.4f}  ({row['seconds']:.0f} s)")
        # Whatever the file writing drew from the random generators (nothing today) must not make the
        # next epoch differ from a resumed run's, which starts from `mine`.
        set_rng_state(mine, data.generator)
        # Everyone waits for rank 0's files: a resume must never find a half-finished epoch.
        distributed.barrier()
        if on_epoch_end is not None:
            on_epoch_end(dict(row))
    if writer is not None:
        writer.close()
    if progress and stop_reason:
        tqdm.write(f"stopped: {stop_reason}")
    return run.best_scores


# ---- one epoch, its validation, its files -----------------------------------------------------


def train_one_epoch(parts: "Parts", loader, config: TrainConfig, device: torch.device, world: distributed.DistInfo, run: "RunState",
                    budget: "TimeBudget", lr_at, writer, progress: bool, out: Path) -> tuple[float, float, bool]:
    """One pass over this rank's shard. Returns (mean training loss, the last step's learning rate,
    whether the time budget ran out). The loss adds up on the device; it is brought to the host
    (and checked for NaN) every LOSS_CHECK_EVERY steps and at the end, so a step never waits for it."""
    set_train_mode(parts.model, config.freeze_bn)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    running = torch.zeros((), dtype=torch.float64, device=device)   # Σ loss over this epoch's steps
    first_bad = torch.zeros((), dtype=torch.long, device=device)     # the first step (1-based) whose loss was not finite; 0: none
    seen, lr, time_up, loss = 0, float("nan"), False, None
    bar = tqdm(loader, desc=f"epoch {run.epoch}/{config.epochs or '?'}", disable=not progress, unit="batch", leave=False)
    for images, masks in bar:
        images = images.to(device, memory_format=memory_format, non_blocking=True)  # (B, 3, H, W)
        masks = masks.to(device, non_blocking=True)                                  # (B, H, W)
        lr = lr_at(run.step, budget.clock)
        for group in parts.optimizer.param_groups:
            group["lr"] = lr
        with autocast(device, config.precision):
            logits = parts.model(images)                                             # (B, C, H, W)
        loss = parts.loss_fn(logits, masks)
        if parts.teacher is not None:
            loss = loss + config.distill_weight * distillation_loss(logits, parts.teacher(images))
        parts.optimizer.zero_grad(set_to_none=True)
        parts.scaler.scale(loss).backward()
        if config.grad_clip:
            parts.scaler.unscale_(parts.optimizer)  # clip the true gradients, not the fp16-scaled ones
            torch.nn.utils.clip_grad_norm_(parts.raw_model.parameters(), config.grad_clip)
        parts.scaler.step(parts.optimizer)
        parts.scaler.update()
        run.step += 1
        seen += 1
        loss = loss.detach()
        running += loss
        first_bad = torch.where((first_bad == 0) & ~torch.isfinite(loss), seen, first_bad)
        time_up = budget.after_step(images.shape[0] * images.shape[-2] * images.shape[-1])
        if run.step % LOSS_CHECK_EVERY == 0:
            mean, last = checked_loss(running, loss, first_bad, seen, run.epoch, world, out)
            bar.set_postfix(loss=f"{mean:.4f}", lr=f"{lr:.2e}")
            if writer is not None:
                writer.add_scalar("train/loss_step", last, run.step)
                writer.add_scalar("train/lr", lr, run.step)
        if time_up:
            break
    bar.close()
    if not seen:
        return float("nan"), float("nan"), time_up
    mean, _ = checked_loss(running, loss, first_bad, seen, run.epoch, world, out)
    return mean, lr, time_up


def checked_loss(running: torch.Tensor, last: torch.Tensor, first_bad: torch.Tensor, seen: int, epoch: int,
                 world: distributed.DistInfo, out: Path) -> tuple[float, float]:
    """(mean loss of the epoch so far, the last step's loss), both averaged over the ranks; a
    TrainingError when any step's loss was not finite. Every rank calls this at the same steps (a
    collective), so all stop together, or the others would wait forever in the next one."""
    shared = distributed.all_reduce_sum(torch.stack([running, last.double()])) / world.world_size
    total, last_value = shared.tolist()
    if not math.isfinite(total):
        raise TrainingError(non_finite_message(total, epoch, int(first_bad) or seen, out))
    return total / seen, last_value


def validate(parts: "Parts", data: "Data", config: TrainConfig, device: torch.device, budget: "TimeBudget", epoch: int,
             progress: bool, out: Path):
    """(scores, validation loss) over the whole split, the ranks' shards summed; timed for the budget."""
    started = time.perf_counter()
    confusion, val_loss = evaluate(parts.raw_model, data.val_loader, data.train_set.num_classes, device, config.precision, parts.loss_fn,
                                   progress, config.channels_last, all_ranks=True, input_size=config.input_size)
    budget.validated(time.perf_counter() - started)
    if val_loss is not None and not math.isfinite(val_loss):
        raise TrainingError(non_finite_message(val_loss, epoch, None, out))
    return confusion.compute(), val_loss


def save_epoch(parts: "Parts", config: TrainConfig, out: Path, run: "RunState", row: dict, scores, improved: bool, rngs: list,
               classes: list[str], writer, previews, device: torch.device) -> None:
    """Rank 0's files after an epoch: best.pt (if better), last.pt, metrics.csv, TensorBoard, curves, previews."""
    summary = scores.as_dict(classes)
    slim = checkpoint_payload(parts.raw_model, classes, IMAGENET_MEAN, IMAGENET_STD, epoch=run.epoch, metrics=summary, config=config.as_dict(),
                              inference={"input_size": config.input_size} if config.input_size else {})
    # best.pt before last.pt: a kill between the two leaves last.pt at the previous epoch, and
    # the resumed run repeats this epoch exactly and writes both again.
    if improved:
        atomic_save(slim, out / "best.pt")
    full = {**slim, "optimizer": parts.optimizer.state_dict(), "scheduler": {"step": run.step}, "elapsed": row["elapsed"],
            "best_miou": run.best_miou, "best_epoch": run.best_epoch, "best_metrics": run.best_scores, "history": run.history, "rng": rngs}
    if parts.scaler.is_enabled():
        full["scaler"] = parts.scaler.state_dict()
    atomic_save(full, out / "last.pt")
    write_metrics(out / "metrics.csv", run.history)
    write_tensorboard(writer, row, summary, run.step)
    plot_curves(out / "metrics.csv", out / "curves.png", loss_name=config.loss)
    if previews:
        draw_previews(parts.raw_model, previews, device, config, out / "predictions" / f"epoch_{run.epoch:03d}.png")


# ---- setting up: data, model and optimizer, where the run starts, the time budget --------------


# How often the training loss is brought to the host: the NaN check, the progress bar's and
# TensorBoard's loss. In between it adds up on the device, and no step waits for the GPU.
LOSS_CHECK_EVERY = 10


def check_hardware(config: TrainConfig, device: torch.device, world: distributed.DistInfo) -> None:
    if config.precision == "fp16" and device.type != "cuda":
        raise ConfigError("fp16 needs CUDA (its GradScaler does not run on the CPU); use --precision bf16 on a CPU")
    if config.sync_bn and world.enabled and device.type != "cuda":
        raise ConfigError("sync_bn needs CUDA (torch's SyncBatchNorm has no CPU kernel); on CPU use freeze_bn, or neither")


@dataclass
class Data:
    train_set: SegmentationFolder
    val_set: SegmentationFolder
    train_sampler: torch.utils.data.DistributedSampler
    train_loader: torch.utils.data.DataLoader
    val_loader: torch.utils.data.DataLoader
    val_indices: list[int]           # this rank's validation images
    generator: torch.Generator       # the loader's worker seeds


def build_data(config: TrainConfig, world: distributed.DistInfo) -> Data:
    """Both splits, every file read and checked before the first step (a bad mask fails now, not in
    epoch 7), and their loaders for this rank."""
    train_samples = val_samples = None
    if config.val_groups:
        train_samples, val_samples = group_split(config.data, config.train_split, config.val_split, config.val_groups, config.group_by)
    train_set = SegmentationFolder(config.data, config.train_split, transform=augmentation(config.augment), samples=train_samples)
    if config.mode == "binary" and train_set.num_classes != 2:
        raise ConfigError(f"binary mode (--binary) needs a data set of two classes, background and one foreground; "
                          f"{train_set.root / 'classes.txt'} has {train_set.num_classes}: {', '.join(train_set.classes)}")
    val_set = SegmentationFolder(config.data, config.val_split, samples=val_samples)
    for dataset, purpose in ((train_set, "nothing to learn from"), (val_set, "no score to keep a best.pt by")):
        dataset.check_all()
        # All ignore trains on a loss of 0 and validates to an mIoU of nan, silently: refuse it.
        if not any((dataset.load(i)[1] != IGNORE_INDEX).any() for i in range(len(dataset))):
            raise DataError(f"{dataset.root / 'masks' / dataset.split}: every pixel of all {len(dataset)} masks is {IGNORE_INDEX} (ignore): "
                            f"{purpose} (check the masks with `pixelseg data check {dataset.root}`)")
    # The epoch's order is a function of (seed, epoch) alone (sampler.set_epoch), the same with any
    # number of processes: rank r takes every world_size-th index of one permutation, so a global
    # batch under torchrun holds exactly the images of the same step in a single process.
    train_sampler = torch.utils.data.DistributedSampler(train_set, world.world_size, world.rank, shuffle=config.shuffle,
                                                        seed=config.seed, drop_last=world.enabled)
    generator = torch.Generator().manual_seed(config.seed + world.rank)
    shard = len(train_sampler)
    if shard == 0:
        raise DataError(f"{config.data}: {len(train_set)} training images cannot feed {world.world_size} processes")
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=config.batch_size, sampler=train_sampler, drop_last=shard > config.batch_size,
        collate_fn=pad_collate, num_workers=config.num_workers, generator=generator, persistent_workers=config.num_workers > 0,
    )
    # Validation: a plain shard per rank (every world_size-th image), no padding with repeats, so each
    # image is counted exactly once when the ranks' confusion matrices are summed.
    val_indices = world.shard(range(len(val_set)))
    val_loader = torch.utils.data.DataLoader(torch.utils.data.Subset(val_set, val_indices), batch_size=config.batch_size,
                                             collate_fn=pad_collate, num_workers=config.num_workers)
    return Data(train_set, val_set, train_sampler, train_loader, val_loader, val_indices, generator)


@dataclass
class Parts:
    model: torch.nn.Module           # what the steps call: raw_model, or DDP around it
    raw_model: torch.nn.Module       # what is saved and validated
    loss_fn: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    teacher: Teacher | None = None   # distillation's second target (engine/distill.py)


def build_parts(config: TrainConfig, device: torch.device, world: distributed.DistInfo, train_set: SegmentationFolder) -> Parts:
    """The model (DDP-wrapped under torchrun), the loss, the optimizer and fp16's GradScaler."""
    model = create_model(config.model, output_maps(train_set.num_classes, config.mode), **config.model_options)
    if config.init is not None:  # fine-tuning: the weights of the checkpoint the config took the model from
        load_init_weights(model, config.init, train_set)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    if config.sync_bn and world.enabled:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    raw_model = model
    if world.enabled:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    # The dataset checked every mask once (build_data): the loss need not check the targets again each step.
    loss_fn = build_loss(config.loss, class_weights(config, train_set), mode=config.mode, weights=config.loss_weights, gamma=config.focal_gamma,
                         smooth=config.dice_smooth, ohem_threshold=config.ohem_threshold, ohem_min_kept=config.ohem_min_kept,
                         check_targets=False).to(device)
    scaler = torch.amp.GradScaler("cuda", enabled=config.precision == "fp16")
    teacher = None
    if config.teacher is not None:
        teacher = load_teacher(config.teacher, train_set.classes, train_set.mean, train_set.std, device, config.precision)
    return Parts(model, raw_model, loss_fn, build_optimizer(config, raw_model), scaler, teacher)


def load_init_weights(model: torch.nn.Module, init: str, train_set: SegmentationFolder) -> None:
    """`init`'s weights into `model` (its architecture, TrainConfig.check made sure); the classes must be the data's."""
    checkpoint = load_checkpoint(init)
    if checkpoint["classes"] != train_set.classes:
        raise DataError(f"{train_set.root}: classes {train_set.classes} differ from those of --init {init} ({checkpoint['classes']}); "
                        "fine-tuning keeps the model's classes")
    model.load_state_dict(checkpoint["state_dict"])


@dataclass
class RunState:
    """Where the run is: what last.pt keeps and a resume restores."""
    step: int = 0
    epoch: int = 0
    elapsed: float = 0.0
    best_miou: float = -1.0
    best_epoch: int = 0
    best_scores: dict = field(default_factory=dict)
    history: list = field(default_factory=list)

    def record(self, row: dict, scores, classes: list[str]) -> bool:
        """Add an epoch's row; True when its mIoU is the best so far."""
        self.history.append(row)
        if scores.miou > self.best_miou:
            self.best_miou, self.best_epoch, self.best_scores = scores.miou, self.epoch, scores.as_dict(classes)
            return True
        return False


def restore(path: Path, parts: Parts, data: Data, world: distributed.DistInfo) -> RunState:
    """Continue from last.pt: weights, optimizer, scaler, step, epoch, clock, early-stopping state and this rank's random state."""
    state = load_checkpoint(path)
    classes = data.train_set.classes
    if state.get("classes") != classes:
        raise DataError(f"{data.train_set.root}: classes {classes} differ from the run's {state.get('classes')}")
    asked = mode_of(parts.raw_model.pixelseg_config["num_classes"])
    if checkpoint_mode(state) != asked:
        raise ConfigError(f"{path}: the run trains a {checkpoint_mode(state)} model; it cannot continue as a {asked} one (leave the mode as it was)")
    parts.raw_model.load_state_dict(state["state_dict"])
    parts.optimizer.load_state_dict(state["optimizer"])
    if "scaler" in state:
        parts.scaler.load_state_dict(state["scaler"])
    run = RunState(step=state["scheduler"]["step"], epoch=state["epoch"], elapsed=state["elapsed"], best_miou=state["best_miou"],
                   best_epoch=state["best_epoch"], best_scores=state.get("best_metrics", {}), history=state["history"])
    rngs = state["rng"]
    if len(rngs) != world.world_size:
        raise ConfigError(f"{path} was written by {len(rngs)} process(es); resume it with as many, not {world.world_size}")
    set_rng_state(rngs[world.rank], data.generator)
    return run


def prepare_folder(config: TrainConfig, out: Path, run: RunState, resume: bool):
    """Rank 0: config.yaml, no leftovers (a killed write's temporaries; an earlier run's events and
    previews), metrics.csv as the checkpoint has it; returns the TensorBoard writer."""
    out.mkdir(parents=True, exist_ok=True)
    write_config(config, out / "config.yaml")
    remove_stale_temporaries(out, RUN_OUTPUTS)
    if not resume:  # outputs of an earlier run in this folder would mix with ours
        for stale in [*out.glob("tb/events.out.tfevents.*"), *out.glob("predictions/epoch_*.png")]:
            stale.unlink()
    write_metrics(out / "metrics.csv", run.history)  # on resume: exactly the checkpoint's epochs
    return tensorboard_writer(out / "tb", purge_step=run.step if resume else None)


def preview_images(val_set: SegmentationFolder, count: int) -> list:
    """Fixed preview images, spread over the split (neighbouring files are often frames of one video)."""
    count = min(count, len(val_set))
    ids = sorted({round(i * (len(val_set) - 1) / max(count - 1, 1)) for i in range(count)})
    return [val_set.load(i) for i in ids]


class TimeBudget:
    """The run's clock, as every rank agrees on it (their mean: decisions taken by time must be the
    same on every rank), and --time-budget: time is up when what is left would not hold the coming
    validation as well."""

    def __init__(self, minutes: float | None, elapsed: float, val_pixels: int, world: distributed.DistInfo, device: torch.device):
        self.limit = 60 * minutes if minutes else None
        self.reason = f"time budget of {minutes:g} min used" if minutes else None
        self.started = time.perf_counter() - elapsed   # continues a resumed run's clock
        self.clock = elapsed                           # seconds into the run, agreed; the schedule goes by it
        self.last_val_seconds = 0.0
        self.epoch_started, self.train_pixels = time.perf_counter(), 0
        self.val_pixels, self.world, self.device = val_pixels, world, device

    def now(self) -> float:
        """Seconds into the run on this rank's clock."""
        return time.perf_counter() - self.started

    def agree(self, *seconds: float) -> list[float]:
        """The ranks' mean of each value (the values themselves in one process)."""
        if not self.world.enabled:
            return list(seconds)
        shared = distributed.all_reduce_sum(torch.tensor(seconds, dtype=torch.float64, device=self.device))
        return (shared / self.world.world_size).tolist()

    def start_epoch(self) -> bool:
        """Start an epoch's clock; True when not even its validation would fit any more."""
        (self.clock,) = self.agree(self.now())
        self.epoch_started, self.train_pixels = time.perf_counter(), 0
        return self.limit is not None and self.clock + self.last_val_seconds >= self.limit

    def after_step(self, pixels: int) -> bool:
        """Count a step's pixels; True when time is up. Without a budget nothing is agreed (no collective)."""
        self.train_pixels += pixels
        if self.limit is None:
            return False
        # The coming validation's time: the last one's, or before the first, a guess from this epoch's
        # training speed (a forward pass costs about a third of forward + backward; counted as half,
        # to err on the safe side).
        reserve = self.last_val_seconds or (time.perf_counter() - self.epoch_started) / self.train_pixels * self.val_pixels / 2
        self.clock, reserve = self.agree(self.now(), reserve)
        return self.clock + reserve >= self.limit

    def validated(self, seconds: float) -> None:
        (self.last_val_seconds,) = self.agree(seconds)


# ---- the pieces the loop calls --------------------------------------------------------------


def augmentation(augment: AugmentConfig):
    """The joint training transform, or None when the config asks for no augmentation at all
    (train_transform cannot build an empty pipeline)."""
    a = augment
    if tuple(a.scale) == (1.0, 1.0) and not (a.long_side or a.rotation or a.crop_size or a.hflip or a.vflip or a.color_jitter):
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
    write_text_atomically(path, buffer.getvalue())


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
        predictions.append(class_ids(logits[0]).cpu().numpy())
    prediction_grid([i for i, _ in previews], [m for _, m in previews], predictions, path)
