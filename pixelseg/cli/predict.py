"""pixelseg predict"""
from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from pixelseg.bundled import describe
from pixelseg.cli.checks import check_output_dir
from pixelseg.cli.options import add_runtime_arguments, add_threads_argument, add_threshold_argument, parse_scales, parse_size, positive_int, size_or_zero
from pixelseg.inference import shards
from pixelseg.inference.files import planned_outputs, predict_files
from pixelseg.inference.inputs import expand_inputs, split_media
from pixelseg.inference.loading import RUNTIMES, load_predictor
from pixelseg.inference.refine import REFINEMENTS

HELP = "segment images and videos: index masks (palette PNG) and overlays at each image's own size"

__all__ = ["HELP", "add_arguments", "add_inference_arguments", "add_sizing_arguments", "predictor_from_args", "predict_files", "run"]


def add_sizing_arguments(parser) -> None:
    """How an image meets the network (windows, resizing, flip TTA, refinement): shared by `predict`,
    `apply`, `evaluate` and `serve`. Sizes not given come from the checkpoint's "inference" entry."""
    parser.add_argument("--window", type=parse_size, default=None, metavar="HxW", help="sliding-window size: the network sees overlapping tiles of this size")
    parser.add_argument("--max-size", type=positive_int, default=None, metavar="N",
                        help="run images up to N pixels on the longer side whole; slide windows (--window, default N×N) over larger ones")
    parser.add_argument("--input-size", type=size_or_zero, default=None, metavar="N",
                        help="resize so the longer side is N before the network (logits are resized back); 0 = the image's own size "
                        "(default: the size the checkpoint records, e.g. 320 for the bundled person model, else the image's own)")
    parser.add_argument("--size-multiple", type=positive_int, default=None, metavar="N",
                        help="round the network input's sides to a multiple of N (its stride, e.g. 32) instead of padding them inside "
                        "the network: less work for an aspect off by at most N/2 pixels a side (video: a 640×480 frame at 224 runs at 224×160)")
    parser.add_argument("--tta", choices=["none", "flip"], default="none", help="test-time augmentation: flip averages with the mirrored image")
    parser.add_argument("--tta-scales", type=parse_scales, default=None, metavar="S,S,...",
                        help="multi-scale test-time augmentation: logits averaged over the network's input resized by each factor, "
                        "e.g. 0.75,1,1.25 (with --tta flip, each scale flipped too; default: 1)")
    parser.add_argument("--refine", choices=REFINEMENTS, default=None,
                        help="guided: edges of the probabilities follow the photo (a guided filter); default: what the checkpoint records, else none")


def add_inference_arguments(parser, default_checkpoint: str | None = None, batching: bool = True) -> None:
    """The model and how to run it: shared by `predict`, `apply` and `live` (whose default is the bundled
    person model; live runs one frame at a time: batching=False leaves out --batch-size)."""
    default = f" (default: {default_checkpoint})" if default_checkpoint else ""
    parser.add_argument("--checkpoint", required=default_checkpoint is None, default=default_checkpoint,
                        help=f"a checkpoint (.pt), an exported .onnx file, or a bundled model's name{default}; {describe()}")
    parser.add_argument("--runtime", choices=RUNTIMES, default=None, help="torch or onnx (default: onnx for an .onnx file, else torch)")
    add_sizing_arguments(parser)
    if batching:
        parser.add_argument("--batch-size", type=positive_int, default=1, help="images of the same size (or video frames) per forward pass")
    add_threads_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_runtime_arguments(parser)


def predictor_from_args(args, device=None, threshold: float | None = None):
    """The predictor the flags describe, on `device` (default: --device; under torchrun, the rank's own).
    threshold: a binary model's (predict's --threshold; apply's own --threshold is the matte's, not this)."""
    return load_predictor(args.checkpoint, args.runtime, args.device if device is None else device, args.precision, args.threads,
                          window=args.window, flip=args.tta == "flip", max_size=args.max_size, input_size=args.input_size, refine=args.refine,
                          threshold=threshold, scales=args.tta_scales, size_multiple=args.size_multiple)


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image or video files, folders, or quoted glob patterns ('photos/*.jpg')")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--probabilities", action="store_true", help="also write each class's probability as an 8-bit grey PNG")
    parser.add_argument("--skip-existing", action="store_true",
                        help="leave out inputs whose outputs are all in --out and whole already (continue a run that was stopped)")
    add_threshold_argument(parser)
    add_inference_arguments(parser)


def run(args) -> int:
    """Under torchrun, every process segments its share of the inputs (inference.shards); rank 0 reports."""
    check_output_dir(args.out, "--out")
    out = Path(args.out)
    with shards.joined(args.device) as (world, device):
        predictor = predictor_from_args(args, device, threshold=args.threshold)
        paths = expand_inputs(args.inputs)
        mine = shards.share(planned_outputs(paths, out, predictor.classes, args.probabilities), world, args.skip_existing)
        if world.enabled:  # made here, not by the first rank to write (another could remove it as empty meanwhile)
            out.mkdir(parents=True, exist_ok=True)
        failed: list[Path] = []

        def report(path: Path, err: Exception) -> None:  # one bad input is skipped, not the end of the batch
            failed.append(path)
            tqdm.write(f"pixelseg predict: error: {err}", file=sys.stderr)

        stopwatch = shards.Stopwatch(world)
        predict_files(predictor, mine, out, progress=not args.quiet, probabilities=args.probabilities, batch_size=args.batch_size,
                      on_error=report, desc=shards.progress_label("predict", world))
        tally = stopwatch.tally(len(mine) - len(failed), failed)
    if world.is_main and not (tally.failed and len(paths) == 1):  # one input that failed: its error line says it all
        print(summary(paths, tally.failed, args.out))
        print(tally.rate_line("images" if not split_media(paths)[1] else "files"))
    return 1 if tally.failed else 0


def summary(paths: list[Path], failed: list[Path], out: str) -> str:
    """`segmented 4 images and 1 video into OUT`, and which inputs failed, if any did."""
    images, videos = split_media([p for p in paths if p not in failed])
    counts = [f"{len(images)} image{'s' * (len(images) != 1)}"] + ([f"{len(videos)} video{'s' * (len(videos) != 1)}"] if videos else [])
    line = f"segmented {' and '.join(counts)} into {out}"
    return line + (f"; {len(failed)} of {len(paths)} inputs failed: {', '.join(p.name for p in failed)}" if failed else "")
