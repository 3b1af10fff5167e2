"""One output map or two: the same network trained both ways on the same two-class data.

    python bench/binary.py                                 # the tutorial's numbers (chapter 4, the exercise)
    python bench/binary.py --figure docs/tutorial/images/discs-probabilities.png   # and its picture
    python bench/binary.py --quick                         # a smoke test: tiny data, one epoch
    python bench/binary.py --measure-only                  # time the networks an earlier call trained, again

The data: pixelseg's synthetic scenes with one foreground class, the disc (every other shape is
background: `generate_dataset(..., foreground="disc")`). The network: a U-Net of width 16, trained
twice with the same seed, data order, augmentation and schedule (the flags of chapter 4's exercise):

    two maps   `pixelseg train`            a map per class, softmax, cross-entropy
    one map    `pixelseg train --binary`   one map, sigmoid, binary cross-entropy

Reported for each: the disc's IoU and the mIoU on the val split (one confusion matrix, masks at 0.5:
argmax, or σ > 0.5), the parameters that depend on the number of output maps (the 1×1 head) and
the whole network's, and speed: the network's forward pass per val image, and the step from
logits to a mask and probabilities on a 1024×1024 map (softmax + argmax against sigmoid +
threshold); CPU time of one thread (a shared machine's waits left out), medians over --repeats
turns, the two models alternating. --figure draws one val image, its true mask, and P(disc) from both models.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixelseg.data.synthetic import generate_dataset  # noqa: E402
from pixelseg.engine.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from pixelseg.engine.config import TrainConfig  # noqa: E402
from pixelseg.engine.trainer import train  # noqa: E402
from pixelseg.inference.predictor import Predictor  # noqa: E402
from pixelseg.runtime.outputs import class_ids, class_probabilities  # noqa: E402

MODES = {"two maps": "multiclass", "one map": "binary"}


def train_both(data: Path, out: Path, epochs: int, quick: bool) -> dict[str, Path]:
    """best.pt of each mode, trained with everything else equal (chapter 4's exercise's flags)."""
    runs = {}
    for label, mode in MODES.items():
        config = TrainConfig(data=str(data), out=str(out / mode), model="unet", model_options={"base_channels": 16}, mode=mode,
                             epochs=epochs, batch_size=16, lr=0.003, preview_images=0, device="cpu")
        config.augment.scale, config.augment.vflip, config.augment.color_jitter = (1.0, 1.0), 0.5, 0.1
        print(f"training {label} ({mode}) ...", flush=True)
        train(config, progress=not quick)
        runs[label] = out / mode / "best.pt"
    return runs


def map_parameters(checkpoints: dict[str, dict]) -> dict[str, int]:
    """Per model: the parameters of the tensors whose shape differs between the two (those that depend on the output maps)."""
    states = [c["state_dict"] for c in checkpoints.values()]
    differ = [k for k in states[0] if states[0][k].shape != states[1][k].shape]
    return {label: sum(c["state_dict"][k].numel() for k in differ) for label, c in checkpoints.items()}


def timings(predictors: dict[str, Predictor], images: list[np.ndarray], repeats: int, side: int = 1024) -> dict[str, dict]:
    """Per model, median CPU milliseconds of (forward_ms) the network alone per image and (mask_ms)
    the step from logits (maps, side, side) to class ids and probabilities. CPU time of this process
    (one thread), not wall-clock: on a shared machine a niced run waits for the cores far longer than
    it computes, and the wait says nothing about the network. One warm-up pass each, then the
    models take turns."""
    inputs = [torch.from_numpy(image).permute(2, 0, 1)[None].float() for image in images]  # timing only: the values do not matter
    maps = {label: torch.randn(p.model.pixelseg_config["num_classes"], side, side) for label, p in predictors.items()}
    times = {label: {"forward_ms": [], "mask_ms": []} for label in predictors}
    for turn in range(repeats + 1):
        for label, predictor in predictors.items():
            for x in inputs:
                start = time.process_time()
                predictor.forward(x)
                if turn:
                    times[label]["forward_ms"].append((time.process_time() - start) * 1000)
            start = time.process_time()
            class_ids(maps[label])
            class_probabilities(maps[label])
            if turn:
                times[label]["mask_ms"].append((time.process_time() - start) * 1000)
    return {label: {key: statistics.median(values) for key, values in kinds.items()} for label, kinds in times.items()}


def draw(figure: Path, data: Path, predictors: dict[str, Predictor]) -> None:
    """One val image, its true mask, and P(disc) from both models (a small PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    masks = sorted((data / "masks" / "val").glob("*.png"))
    # the val image with the most disc pixels, so both maps have something to show
    path = max(masks, key=lambda p: int((np.array(Image.open(p)) == 1).sum()))
    image = np.array(Image.open(data / "images" / "val" / path.name).convert("RGB"))
    fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
    panels = [(image, "val image", None), (np.array(Image.open(path)), "true mask (disc)", "gray")]
    panels += [(p.predict_proba(image)[1].numpy(), f"P(disc), {label}", "magma") for label, p in predictors.items()]
    for ax, (picture, title, cmap) in zip(axes, panels):
        shown = ax.imshow(picture, cmap=cmap, vmin=0, vmax=1) if cmap else ax.imshow(picture)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.colorbar(shown, ax=axes.tolist(), fraction=0.015, pad=0.01)
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=80, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-binary"), help="data and runs go here (default runs/bench-binary)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per run (default 20, as the tutorial)")
    parser.add_argument("--repeats", type=int, default=5, help="timing passes (default 5)")
    parser.add_argument("--figure", type=Path, help="draw the two probability maps to this PNG")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--quick", action="store_true", help="tiny data, one epoch: checks the script, measures nothing")
    parser.add_argument("--measure-only", action="store_true", help="measure the runs an earlier call left in --out, without training")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    sizes = dict(train=8, val=4, size=48) if args.quick else dict(train=200, val=50, size=64)  # the tutorial's set
    data = generate_dataset(args.out / "discs", progress=False, foreground="disc", **sizes)
    if args.measure_only:
        runs = {label: args.out / mode / "best.pt" for label, mode in MODES.items()}
        missing = [str(path) for path in runs.values() if not path.is_file()]
        if missing:
            parser.error(f"--measure-only: no earlier run to measure ({', '.join(missing)} missing)")
    else:
        runs = train_both(data, args.out, 1 if args.quick else args.epochs, args.quick)

    torch.set_num_threads(1)
    checkpoints = {label: load_checkpoint(path) for label, path in runs.items()}
    predictors = {label: Predictor.from_checkpoint(path, "cpu") for label, path in runs.items()}
    from PIL import Image

    images = [np.array(Image.open(p).convert("RGB")) for p in sorted((data / "images" / "val").glob("*.png"))]
    head = map_parameters(checkpoints)
    speed = timings(predictors, images, args.repeats)
    results = {}
    for label, checkpoint in checkpoints.items():
        scores = checkpoint["metrics"]
        results[label] = {"mode": checkpoint["mode"], "disc_iou": scores["per_class_iou"]["disc"], "miou": scores["miou"],
                          "epoch": checkpoint["epoch"], "map_parameters": head[label],
                          "parameters": sum(v.numel() for v in model_from_checkpoint(checkpoint).parameters()),
                          "forward_ms": speed[label]["forward_ms"], "mask_ms_1024": speed[label]["mask_ms"]}
    print(f"\nload average {os.getloadavg()[0]:.2f}; {sizes['train']} train / {sizes['val']} val images of {sizes['size']}×{sizes['size']}, "
          f"torch {torch.__version__}, timings in CPU time of 1 thread")
    print("| network | disc IoU | mIoU | best epoch | head parameters | all parameters | forward, CPU ms/image | logits → mask, 1024², CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for label, r in results.items():
        print(f"| {label} ({r['mode']}) | {r['disc_iou']:.3f} | {r['miou']:.3f} | {r['epoch']} | {r['map_parameters']} | "
              f"{r['parameters']:,} | {r['forward_ms']:.2f} | {r['mask_ms_1024']:.1f} ms |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.figure:
        draw(args.figure, data, predictors)
        print(f"wrote {args.figure} ({args.figure.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
