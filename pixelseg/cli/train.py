"""pixelseg train

    pixelseg train --data DATA --out RUN [flags]
    pixelseg train --config configs/camvid.yaml --data DATA --out RUN [flags]   # flags override the file
    pixelseg train --resume RUN [--epochs N]                                    # continue RUN exactly
    torchrun --nproc_per_node 2 -m pixelseg train ...                           # data parallel
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from pixelseg.cli.checks import check_output_dir
from pixelseg.cli.options import add_runtime_arguments, group_list, parse_key_value, parse_size, positive_int
from pixelseg.data.transforms import AugmentConfig
from pixelseg.engine.config import CHOICES, ConfigError, TrainConfig, load_config, merge, read_config_file
from pixelseg.engine.trainer import train
from pixelseg.errors import UsageError

HELP = "train a model on a folder-format data set"

D = TrainConfig(data="")  # the defaults, for the help texts
S = argparse.SUPPRESS     # a flag not given leaves no value: the config file's (or the default) stands

# Flags whose value goes straight to the TrainConfig field of the same name: every field but the
# nested ones, which their own flags fill (--model-option, --loss-weight, the augmentation flags).
NESTED = ("model_options", "loss_weights", "augment")
PLAIN = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in NESTED)
AUGMENT = tuple(f.name for f in dataclasses.fields(AugmentConfig))


def epoch_count(text: str) -> int | None:
    """--epochs: a count of at least 1, or 'none' for no limit (0 is refused: it is not 'none')."""
    return None if text.lower() in ("none", "null") else positive_int(text)


def optional_int(text: str) -> int | None:
    """--patience: a count, or 'none' / 0 for no early stopping."""
    return None if text.lower() in ("none", "null", "0") else positive_int(text)


def add_arguments(parser) -> None:
    run = parser.add_argument_group("run")
    run.add_argument("--config", default=None, metavar="FILE", help="YAML with TrainConfig keys (e.g. configs/camvid.yaml or a run's config.yaml)")
    run.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue the run in RUN_DIR from its last.pt (its config.yaml, flags on top)")
    run.add_argument("--overwrite", action="store_true", help="start afresh in an --out folder that holds a run, replacing its checkpoints")
    run.add_argument("--data", default=S, help="data folder (classes.txt, images/<split>, masks/<split>)")
    run.add_argument("--out", default=S, help=f"run folder: config.yaml, best.pt, last.pt, metrics.csv, curves.png, tb/, predictions/ (default: {D.out})")
    run.add_argument("--epochs", type=epoch_count, default=S, help=f"at most this many epochs; 'none' for no limit (default: {D.epochs}; "
                     "with --time-budget and no --epochs anywhere: none)")
    run.add_argument("--time-budget", type=float, default=S, metavar="MINUTES", help="at most this many minutes of training + validation")
    run.add_argument("--patience", type=optional_int, default=S, metavar="EPOCHS", help="early stopping: end after this many epochs without a better val mIoU")
    run.add_argument("--seed", type=int, default=S, help=f"(default: {D.seed}) same seed, same data, same machine: same metrics")
    run.add_argument("--quiet", action="store_true", help="no progress bars")

    model = parser.add_argument_group("model")
    model.add_argument("--model", default=S, help=f"architecture name (see pixelseg.list_models(); default: {D.model})")
    model.add_argument("--init", default=S, metavar="CKPT|NAME", help="fine-tune: start from this checkpoint's (or bundled model's, "
                       "e.g. person) architecture and weights, with a new optimizer and schedule; the data's classes must be its classes")
    model.add_argument("--model-option", action="append", type=parse_key_value, default=S, metavar="KEY=VALUE", help="architecture option, repeatable (e.g. base_channels=16)")
    model.add_argument("--binary", dest="mode", action="store_const", const="binary", default=S,
                       help="one output map and a sigmoid instead of one map per class and a softmax, for a data set of two classes "
                       "(background, one foreground); the loss runs in its binary mode (BCE, binary Dice). Config key: mode: binary")
    model.add_argument("--freeze-bn", action="store_true", default=S, help="BatchNorm keeps its running statistics (small batches; DDP on CPU)")
    model.add_argument("--sync-bn", action="store_true", default=S, help="SyncBatchNorm across torchrun processes (CUDA)")

    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--batch-size", type=positive_int, default=S, help=f"per process (default: {D.batch_size})")
    opt.add_argument("--optimizer", choices=CHOICES["optimizer"], default=S, help=f"(default: {D.optimizer})")
    opt.add_argument("--lr", type=float, default=S, help=f"peak learning rate (default: {D.lr})")
    opt.add_argument("--momentum", type=float, default=S, help=f"SGD momentum (default: {D.momentum})")
    opt.add_argument("--weight-decay", type=float, default=S, help=f"(default: {D.weight_decay})")
    opt.add_argument("--schedule", choices=CHOICES["schedule"], default=S, help=f"decay after warm-up (default: {D.schedule})")
    opt.add_argument("--warmup-steps", type=int, default=S, help=f"linear warm-up steps (default: {D.warmup_steps})")
    opt.add_argument("--min-lr-factor", type=float, default=S, help="the schedule's floor, as a fraction of --lr (default: 0)")
    opt.add_argument("--grad-clip", type=float, default=S, metavar="NORM", help="clip the global gradient norm (default: off)")

    loss = parser.add_argument_group("loss")
    loss.add_argument("--loss", choices=CHOICES["loss"], default=S, help=f"(default: {D.loss})")
    loss.add_argument("--loss-weight", action="append", type=parse_key_value, default=S, metavar="TERM=W", help="factor of a term of a sum (ce+dice, ohem+dice), e.g. dice=0.5")
    loss.add_argument("--class-weights", default=S, metavar="none|inverse|median|FILE", help="per-class weights for ce/focal: from the training masks' "
                      "pixel frequencies, or a file of one number per class (default: none)")
    loss.add_argument("--max-class-weight", type=float, default=S, help="cap on computed class weights")
    loss.add_argument("--focal-gamma", type=float, default=S, help=f"(default: {D.focal_gamma})")
    loss.add_argument("--ohem-threshold", type=float, default=S, metavar="P", help="ohem: pixels whose true class has a probability below P "
                      f"are hard (default: {D.ohem_threshold})")
    loss.add_argument("--ohem-min-kept", type=float, default=S, metavar="FRACTION", help="ohem: keep at least this fraction of the pixels, "
                      f"the hardest (default: {D.ohem_min_kept})")
    loss.add_argument("--dice-smooth", type=float, default=S, help=f"(default: {D.dice_smooth})")
    loss.add_argument("--teacher", default=S, metavar="CKPT|NAME", help="distil from a teacher: a checkpoint, a bundled model "
                      "(e.g. person) or mediapipe / mediapipe-landscape (needs ai-edge-litert and the mediapipe wheel)")
    loss.add_argument("--distill-weight", type=float, default=S, help=f"weight of the teacher's term in the loss (default: {D.distill_weight})")

    data = parser.add_argument_group("data and augmentation")
    data.add_argument("--crop-size", type=parse_size, default=S, help="random crop H or HxW for training (default: whole images)")
    data.add_argument("--scale", type=float, nargs=2, default=S, metavar=("MIN", "MAX"), help=f"random rescale range (default: {D.augment.scale[0]} {D.augment.scale[1]})")
    data.add_argument("--scale-long-side", dest="long_side", type=positive_int, default=S, metavar="PIXELS",
                      help="rescale relative to this longer side (the input size the model will run at) instead of each image's own")
    data.add_argument("--class-aware-crop", type=float, default=S, metavar="P", help="with probability P a crop holds a class drawn "
                      f"uniformly from the image's (thin and rare classes seen as often as the road; needs --crop-size; default: {D.augment.class_aware_crop})")
    data.add_argument("--hflip", type=float, default=S, metavar="P", help=f"horizontal flip probability (default: {D.augment.hflip})")
    data.add_argument("--vflip", type=float, default=S, metavar="P", help=f"vertical flip probability (default: {D.augment.vflip})")
    data.add_argument("--rotation", type=float, default=S, metavar="DEGREES", help="random rotation ± (default: 0)")
    data.add_argument("--color-jitter", type=float, default=S, help=f"brightness/contrast/saturation ± (default: {D.augment.color_jitter})")
    data.add_argument("--no-shuffle", dest="shuffle", action="store_false", default=S, help="keep the training images in file order")
    data.add_argument("--train-split", default=S, metavar="SPLIT", help=f"the split to train on; splits joined by '+' train on all of them, "
                      f"e.g. train+val for the final fit of a recipe chosen on held-out groups (default: {D.train_split})")
    data.add_argument("--val-split", default=S)
    data.add_argument("--val-groups", type=group_list, default=S, metavar="G1,G2", help="validate on these groups (from both splits) and train on "
                      "the rest: whole sequences held out, so that the score is on scenes never seen (e.g. CamVid's 0006R0)")
    data.add_argument("--group-by", default=S, metavar="REGEX", help=f"a sample's group: this regex on its id, its first capture group if "
                      f"it has one (default: {D.group_by!r}, the part before the first '_')")
    data.add_argument("--input-size", type=positive_int, default=S, metavar="N", help="the longer side the network is meant to see: "
                      "validation resizes each image to it, and the checkpoints record it for evaluate, predict, apply and serve "
                      "(default: each image at its own size)")
    data.add_argument("--num-workers", type=int, default=S, help="data loader processes (0: load in the training process)")
    data.add_argument("--preview-images", type=int, default=S, help=f"validation images drawn with predictions every epoch (default: {D.preview_images})")

    add_runtime_arguments(parser, defaults=False)
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false", default=S, help="keep NCHW memory layout")


def overrides_from_args(args) -> dict:
    """The config values the flags given on the command line set (and only those)."""
    given = vars(args)
    values = {key: given[key] for key in PLAIN if key in given}
    if "model_option" in given:
        values["model_options"] = dict(given["model_option"])
    if "loss_weight" in given:
        values["loss_weights"] = {k: float(v) for k, v in given["loss_weight"]}
    augment = {key: given[key] for key in AUGMENT if key in given}
    if augment:
        values["augment"] = augment
    return values


def config_from_args(args) -> TrainConfig:
    """Defaults < --config file (or the resumed run's config.yaml) < flags."""
    overrides = overrides_from_args(args)
    if args.resume:
        if args.config:
            raise ConfigError("--resume takes the run's own config.yaml; leave out --config")
        run = Path(args.resume)
        if "out" in overrides and Path(overrides["out"]).resolve() != run.resolve():
            raise ConfigError(f"--resume {run} continues that folder; --out cannot point elsewhere")
        if not (run / "last.pt").is_file():
            raise ConfigError(f"{run / 'last.pt'}: not found; nothing to resume (was the run started with --out {run}?)")
        return load_config(run / "config.yaml", {**overrides, "out": str(run)})
    file_values = read_config_file(args.config) if args.config else {}
    if "time_budget" in overrides and "epochs" not in overrides and "epochs" not in file_values:
        overrides["epochs"] = None  # --time-budget alone: the budget decides, not the default epoch count
    values = merge(merge(TrainConfig(data="").as_dict(), file_values), overrides)
    return TrainConfig.from_dict(values, source=args.config or "command line").check()


# A folder with either of these holds a run's work; starting another there would replace it.
RUN_FILES = ("best.pt", "last.pt")


def check_out(config: TrainConfig, args) -> None:
    out = Path(config.out)
    check_output_dir(out, "--out")
    if args.resume or args.overwrite:
        return
    held = [name for name in RUN_FILES if (out / name).exists()]
    if held:
        raise UsageError(f"--out {out}: already holds a run ({', '.join(held)}); continue it with --resume {out}, "
                         "start afresh there with --overwrite, or choose another --out")


def run(args) -> int:
    config = config_from_args(args)
    check_out(config, args)
    best = train(config, progress=not args.quiet, resume=bool(args.resume))
    if best and int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one line, not one per process
        print(f"best val mIoU {best['miou']:.4f}; checkpoints and curves in {config.out}")
    return 0
