"""TrainConfig: everything a training run depends on, saved as RUN/config.yaml.

    pixelseg train --config configs/camvid.yaml --data DATA --out RUN     # flags override the file
    pixelseg train --config RUN/config.yaml --out RUN2 --seed 1          # reproduce, or vary, a run

Precedence: TrainConfig's defaults < the config file < command-line flags.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pixelseg.data.groups import DEFAULT_GROUP_BY, group_pattern
from pixelseg.data.transforms import AugmentConfig
from pixelseg.engine.schedules import SCHEDULES
from pixelseg.errors import PixelsegError
from pixelseg.losses import LOSSES
from pixelseg.runtime.outputs import MODES
from pixelseg.runtime.precision import PRECISIONS
from pixelseg.temporary import write_text_atomically

OPTIMIZERS = ("adamw", "sgd")
# The TrainConfig fields with a fixed set of values, written once: check() and `pixelseg train`'s
# flags (cli/train.py) both take them from here.
CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "loss": LOSSES, "precision": PRECISIONS, "mode": MODES}


class ConfigError(PixelsegError):
    """A config file or value that cannot be used; the message names the key."""


@dataclass
class TrainConfig:
    data: str
    out: str = "runs/train"
    model: str = "unet"
    model_options: dict = field(default_factory=dict)
    # multiclass: one output map per class and a softmax; binary: one map and a sigmoid, for a data
    # set of two classes (background, one foreground), with the loss's binary mode (BCE, Dice).
    mode: str = "multiclass"
    # How long: at most `epochs` epochs and at most `time_budget` minutes of wall-clock time (training
    # + validation), whichever ends first; None = no limit of that kind (one of them must be set).
    epochs: int | None = 10
    time_budget: float | None = None
    patience: int | None = None        # stop after this many epochs without a better val mIoU
    batch_size: int = 8                # per process; under torchrun the global batch is world_size × this
    optimizer: str = "adamw"           # adamw | sgd
    lr: float = 2e-3
    momentum: float = 0.9              # sgd only
    weight_decay: float = 1e-4
    schedule: str = "poly"             # poly | cosine | constant, after linear warm-up
    warmup_steps: int = 50
    min_lr_factor: float = 0.0         # the schedule never goes below lr × this
    grad_clip: float | None = None     # max global gradient norm; None = no clipping
    loss: str = "ce"                   # ce | dice | ce+dice | focal | ohem | ohem+dice
    loss_weights: dict = field(default_factory=dict)   # a sum's terms, e.g. {"ce": 1.0, "dice": 0.5}
    class_weights: str = "none"        # none | inverse | median | a file of C numbers (ce and focal)
    max_class_weight: float | None = None
    focal_gamma: float = 2.0
    dice_smooth: float = 1.0
    ohem_threshold: float = 0.7        # ohem: pixels whose true class has a probability below this count
    ohem_min_kept: float = 0.1         # ohem: and at least this fraction of the pixels, the hardest
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    shuffle: bool = True
    train_split: str = "train"
    val_split: str = "val"
    # Hold whole groups out (data/groups.py): validate on the images of these groups, from both splits,
    # and train on the rest of train_split. None: train_split and val_split as they are.
    val_groups: list | None = None
    group_by: str = DEFAULT_GROUP_BY   # a sample's group: this regex on its id (CamVid: the sequence)
    precision: str = "fp32"            # fp32 | bf16 (CPU or CUDA autocast) | fp16 (CUDA, with a GradScaler)
    channels_last: bool = True
    freeze_bn: bool = False            # BatchNorm uses and keeps its running statistics (small batches, DDP on CPU)
    sync_bn: bool = False              # SyncBatchNorm across processes (torchrun on CUDA)
    device: str = "auto"
    num_workers: int = 0
    seed: int = 0
    # Fine-tuning: a checkpoint (or a bundled model's name) whose architecture and weights the run
    # starts from (a new optimizer and schedule); model and model_options are then the checkpoint's.
    init: str | None = None
    # Distillation (engine/distill.py): a teacher's probabilities as a second target, weighted.
    teacher: str | None = None         # a checkpoint, a bundled model's name, "mediapipe" or "mediapipe-landscape"
    distill_weight: float = 0.5
    preview_images: int = 4            # validation images drawn with their predictions every epoch
    # The long side (pixels) the trained network is meant to see, recorded in its checkpoints; evaluate,
    # predict, apply and serve resize to it unless told otherwise. None: each image at its own size.
    input_size: int | None = None

    def as_dict(self) -> dict:
        """Plain types only (tuples as lists), as written to config.yaml."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "TrainConfig":
        values = dict(values)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        augment = values.get("augment", {})
        if isinstance(augment, dict):
            aug_known = {f.name for f in dataclasses.fields(AugmentConfig)}
            bad = sorted(set(augment) - aug_known)
            if bad:
                raise ConfigError(f"{source}: unknown augment key(s) {', '.join(bad)} (known: {', '.join(sorted(aug_known))})")
            for key in ("crop_size", "scale"):  # YAML gives lists
                if augment.get(key) is not None:
                    augment[key] = tuple(augment[key])
            values["augment"] = AugmentConfig(**augment)
        if "data" not in values or values["data"] in (None, ""):
            raise ConfigError(f"{source}: no data folder (set `data:` in the file or pass --data)")
        return cls(**values)

    def check(self) -> "TrainConfig":
        """Refuse values that would fail later, or silently do something else. Returns self."""
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {getattr(self, key)!r}")
        if self.epochs is None and self.time_budget is None:
            raise ConfigError("set epochs, time_budget (minutes) or both: without either the run would never end")
        for key in ("epochs", "batch_size", "patience", "input_size"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{key} must be a positive integer, got {value!r}")
        long_side = self.augment.long_side
        if long_side is not None and (not isinstance(long_side, int) or long_side < 1):
            raise ConfigError(f"augment.long_side must be a positive integer, got {long_side!r}")
        if not 0 <= self.augment.class_aware_crop <= 1:
            raise ConfigError(f"augment.class_aware_crop is a probability (0 to 1), got {self.augment.class_aware_crop!r}")
        if self.augment.class_aware_crop and self.augment.crop_size is None:
            raise ConfigError("augment.class_aware_crop places crops: set augment.crop_size (--crop-size) too")
        if not 0 < self.ohem_threshold <= 1 or not 0 <= self.ohem_min_kept <= 1:
            raise ConfigError(f"ohem_threshold must be in (0, 1] and ohem_min_kept in [0, 1], got {self.ohem_threshold!r} and {self.ohem_min_kept!r}")
        for key in ("lr", "time_budget", "grad_clip", "max_class_weight"):
            value = getattr(self, key)
            if value is not None and not value > 0:
                raise ConfigError(f"{key} must be positive, got {value!r}")
        if self.warmup_steps < 0 or self.weight_decay < 0 or self.num_workers < 0:
            raise ConfigError("warmup_steps, weight_decay and num_workers cannot be negative")
        if self.val_groups is not None:
            if not isinstance(self.val_groups, list) or not self.val_groups or not all(isinstance(g, str) and g for g in self.val_groups):
                raise ConfigError(f"val_groups must be a list of group names, got {self.val_groups!r}")
            group_pattern(self.group_by)
        if self.teacher is not None:
            if not self.distill_weight > 0:
                raise ConfigError(f"distill_weight must be positive, got {self.distill_weight!r}")
            from pixelseg.engine.distill import check_teacher  # loads checkpoints: only when asked for

            check_teacher(self.teacher)
        if self.init is not None:
            self._take_init_model()
        self._check_model()
        return self

    def _take_init_model(self) -> None:
        """model and model_options from the `init` checkpoint, whose weights the run starts from."""
        from pixelseg.engine.checkpoint import checkpoint_mode, load_checkpoint  # torch: only when asked for
        from pixelseg.errors import PixelsegError

        try:
            checkpoint = load_checkpoint(self.init)
        except PixelsegError as err:
            raise ConfigError(f"--init: {err}") from None
        if checkpoint_mode(checkpoint) != self.mode:
            raise ConfigError(f"--init {self.init}: a {checkpoint_mode(checkpoint)} model; this run is {self.mode}")
        self.model, self.model_options = checkpoint["model"]["name"], dict(checkpoint["model"]["options"])

    def _check_model(self) -> None:
        """The name and options against the architecture's constructor, before any data is read."""
        from pixelseg.models.registry import check_options, list_models  # the architectures import torch

        if self.model not in list_models():
            raise ConfigError(f"--model {self.model}: unknown model; available: {', '.join(list_models())}")
        if not isinstance(self.model_options, dict):
            raise ConfigError(f"model_options must be a mapping of option: value, got {self.model_options!r}")
        try:
            check_options(self.model, self.model_options)
        except ValueError as err:
            raise ConfigError(f"--model-option: {err}") from None


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def read_config_file(path: str | Path) -> dict:
    """The mapping in a YAML file (as given: TrainConfig keys, `augment` nested)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{path}: not valid YAML ({where}{getattr(err, 'problem', None) or err})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(values).__name__}")
    return values


def merge(base: dict, overrides: dict) -> dict:
    """`overrides` over `base`, one level into `augment`, `model_options` and `loss_weights` (a flag
    changes one option, not all of them)."""
    merged = dict(base)
    for key, value in overrides.items():
        if key in ("augment", "model_options", "loss_weights") and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def write_config(config: TrainConfig, path: str | Path) -> Path:
    """RUN/config.yaml, written atomically; `pixelseg train --config` reads it back."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# pixelseg training run: `pixelseg train --config THIS_FILE` reproduces it\n"
    text += yaml.safe_dump(config.as_dict(), sort_keys=False)
    return write_text_atomically(path, text)


def load_config(path: str | Path, overrides: dict | None = None) -> TrainConfig:
    """TrainConfig from a YAML file, with `overrides` (e.g. from flags) on top."""
    defaults = TrainConfig(data="").as_dict()
    values = merge(merge(defaults, read_config_file(path)), overrides or {})
    return TrainConfig.from_dict(values, source=str(path)).check()
