"""pixelseg demo: the main job on the built-in default, start to finish."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from pixelseg.cli import main as cli_main
from pixelseg.cli.checks import check_output_dir
from pixelseg.cli.options import positive_int
from pixelseg.cli.predict import predict_files
from pixelseg.data.folder import list_samples
from pixelseg.data.synthetic import generate_dataset
from pixelseg.data.transforms import AugmentConfig
from pixelseg.engine.trainer import TrainConfig, train
from pixelseg.inference.predictor import Predictor

HELP = "generate the synthetic scenes, train a U-Net, evaluate it and draw predictions (a few minutes on a CPU)"

# The recipe: small enough for 2 CPU cores in a few minutes, big enough to score mIoU >= 0.8.
DEMO = dict(train=320, val=80, size=128, epochs=25, batch_size=16, lr=3e-3, base_channels=16)


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="runs/demo", help="folder for the data, the run and the pictures")
    parser.add_argument("--epochs", type=positive_int, default=DEMO["epochs"])
    parser.add_argument("--train-images", type=positive_int, default=DEMO["train"])
    parser.add_argument("--val-images", type=positive_int, default=DEMO["val"])
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto", help="auto: bf16 where the CPU computes it natively (AVX512-bf16/AMX), else fp32")
    parser.add_argument("--quiet", action="store_true")


def run(args) -> int:
    started = time.perf_counter()
    out = check_output_dir(args.out, "--out")
    precision = args.precision
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() or torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"
    progress = not args.quiet
    data = generate_dataset(out / "data", train=args.train_images, val=args.val_images, size=DEMO["size"], progress=progress)
    config = TrainConfig(
        data=str(data), out=str(out / "run"), model="unet", model_options={"base_channels": DEMO["base_channels"]},
        epochs=args.epochs, batch_size=DEMO["batch_size"], lr=DEMO["lr"], precision=precision,
        augment=AugmentConfig(scale=(1.0, 1.0), hflip=0.5, vflip=0.5, color_jitter=0.1),
    )
    train(config, progress=progress)

    best = out / "run" / "best.pt"
    scores_path = out / "val_scores.json"
    cli_main(["evaluate", "--checkpoint", str(best), "--data", str(data), "--split", "val", "--json", str(scores_path)] + (["--quiet"] if args.quiet else []))
    scores = json.loads(scores_path.read_text())

    samples = list_samples(data, "val")[:6]
    predictions = predict_files(Predictor.from_checkpoint(best), [s.image_path for s in samples], out / "predictions", progress=progress)
    minutes = (time.perf_counter() - started) / 60
    print(f"\nvalidation mIoU {scores['miou']:.3f}, pixel accuracy {scores['pixel_accuracy']:.3f}  ({minutes:.1f} min)")
    print(f"curves:      {out / 'run' / 'curves.png'}")
    print(f"predictions: {predictions[0].parent}  (<id>.png masks, <id>_overlay.jpg overlays)")
    return 0
