"""pixelseg train"""
from __future__ import annotations

from pixelseg.cli.options import add_runtime_arguments, parse_key_value, parse_size
from pixelseg.data.transforms import AugmentConfig
from pixelseg.engine.trainer import TrainConfig, train

HELP = "train a model on a folder-format data set"


def add_arguments(parser) -> None:
    parser.add_argument("--data", required=True, help="data folder (classes.txt, images/<split>, masks/<split>)")
    parser.add_argument("--out", default="runs/train", help="run folder for best.pt, last.pt, metrics.csv, curves.png")
    parser.add_argument("--model", default="unet", help="architecture name (see pixelseg.list_models())")
    parser.add_argument("--model-option", action="append", type=parse_key_value, default=[], metavar="KEY=VALUE", help="architecture option, repeatable (e.g. upsample=bilinear)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--crop-size", type=parse_size, default=None, help="random crop H or HxW for training (default: whole images)")
    parser.add_argument("--scale", type=float, nargs=2, default=(0.75, 1.25), metavar=("MIN", "MAX"), help="random rescale range")
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--val-split", default="val")
    parser.add_argument("--num-workers", type=int, default=0, help="data loader processes (0: load in the training process)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_runtime_arguments(parser)


def config_from_args(args) -> TrainConfig:
    return TrainConfig(
        data=args.data, out=args.out, model=args.model, model_options=dict(args.model_option), epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        augment=AugmentConfig(crop_size=args.crop_size, scale=tuple(args.scale)),
        train_split=args.train_split, val_split=args.val_split, precision=args.precision, device=args.device,
        num_workers=args.num_workers, seed=args.seed,
    )


def run(args) -> int:
    config = config_from_args(args)
    best = train(config, progress=not args.quiet)
    print(f"best val mIoU {best['miou']:.4f}; checkpoints and curves in {config.out}")
    return 0
