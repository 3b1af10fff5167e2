"""pixelseg evaluate"""
from __future__ import annotations

import json
from pathlib import Path

from pixelseg.bundled import describe
from pixelseg.cli.checks import check_output_file
from pixelseg.cli.options import add_runtime_arguments, add_threads_argument, add_threshold_argument, group_list, positive_int
from pixelseg.cli.predict import add_sizing_arguments
from pixelseg.data.folder import SegmentationFolder, list_samples
from pixelseg.data.groups import DEFAULT_GROUP_BY, group_pattern, hold_out
from pixelseg.errors import DataError
from pixelseg.inference import shards
from pixelseg.inference.loading import RUNTIMES, load_predictor
from pixelseg.inference.scoring import score_split, share_of_split

HELP = "score a checkpoint on a split: per-class IoU, Dice and accuracy, mIoU, pixel accuracy, confusion matrix"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help=f"a checkpoint (.pt), an exported .onnx file, or a bundled model's name ({describe()})")
    parser.add_argument("--runtime", choices=RUNTIMES, default=None, help="torch or onnx (default: onnx for an .onnx file, else torch)")
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--groups", type=group_list, default=None, metavar="G1,G2",
                        help="score only the images of these groups of the split (e.g. a held-out sequence: --split train --groups 0006R0)")
    parser.add_argument("--group-by", default=DEFAULT_GROUP_BY, metavar="REGEX", help=f"a sample's group: this regex on its id (default: {DEFAULT_GROUP_BY!r})")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the scores as JSON")
    parser.add_argument("--confusion", default=None, metavar="PNG", help="also draw the confusion matrix (row-normalised heatmap) to this file")
    add_sizing_arguments(parser)
    parser.add_argument("--edge-band", type=positive_int, default=None, metavar="PX",
                        help="score only the pixels within PX of a true edge (where edges are won or lost; e.g. 4)")
    add_threshold_argument(parser)
    parser.add_argument("--batch-size", type=positive_int, default=4, help="images of the same size per forward pass")
    add_threads_argument(parser)
    parser.add_argument("--quiet", action="store_true")
    add_runtime_arguments(parser)


def format_table(scores: dict) -> str:
    def cell(value) -> str:
        return "—" if value is None else f"{value:.4f}"

    lines = [f"{'class':<20} {'IoU':>8} {'Dice/F1':>8} {'accuracy':>8}"]
    for name, iou in scores["per_class_iou"].items():
        dice = scores.get("per_class_dice", {}).get(name)
        accuracy = scores.get("per_class_accuracy", {}).get(name)
        lines.append(f"{name:<20} {cell(iou):>8} {cell(dice):>8} {cell(accuracy):>8}")
    lines.append(f"{'mIoU':<20} {scores['miou']:>8.4f}")
    if "mean_dice" in scores:
        lines.append(f"{'mean Dice/F1':<20} {scores['mean_dice']:>8.4f}")
    if "mean_class_accuracy" in scores:
        lines.append(f"{'mean class accuracy':<20} {scores['mean_class_accuracy']:>8.4f}")
    lines.append(f"{'pixel accuracy':<20} {scores['pixel_accuracy']:>8.4f}")
    return "\n".join(lines)


def run(args) -> int:
    pattern = group_pattern(args.group_by)
    for flag, path in (("--json", args.json), ("--confusion", args.confusion)):
        if path:  # before the evaluation, not after its scores are printed
            check_output_file(path, flag)
    with shards.joined(args.device) as (world, device):  # under torchrun, every process scores its share
        predictor = load_predictor(args.checkpoint, args.runtime, device, args.precision, args.threads, window=args.window,
                                   flip=args.tta == "flip", max_size=args.max_size, input_size=args.input_size, refine=args.refine,
                                   threshold=args.threshold, scales=args.tta_scales, size_multiple=args.size_multiple)
        samples = None
        if args.groups:
            everything = list_samples(args.data, args.split)
            _, samples = hold_out(everything, pattern, args.groups, where=f"{Path(args.data) / 'images' / args.split}")
        dataset = SegmentationFolder(args.data, args.split, samples=samples)
        if dataset.classes != predictor.classes:
            raise DataError(f"{Path(args.data) / 'classes.txt'}: classes {dataset.classes} differ from the checkpoint's {predictor.classes}")
        stopwatch = shards.Stopwatch(world)
        confusion = score_split(predictor, dataset, args.batch_size, progress=not args.quiet, band=args.edge_band, world=world)
        tally = stopwatch.tally(sum(map(len, share_of_split(len(dataset), args.batch_size, world))))
    if not world.is_main:
        return 0  # rank 0 reports and writes; the confusion matrix it holds is every rank's, summed
    scores = confusion.compute().as_dict(dataset.classes)
    print(format_table(scores))
    if args.json:
        # Macro averages (miou, mean_dice, mean_class_accuracy) over classes; pixel accuracy micro; see docs/training.md.
        scores["confusion"] = confusion.matrix.cpu().tolist()  # rows = truth, columns = prediction
        scores["evaluation"] = {"split": args.split, "groups": args.groups, "tta": args.tta, "tta_scales": list(predictor.scales), "window": list(args.window) if args.window else None,
                                "input_size": predictor.input_size or None, "refine": predictor.refine, "edge_band": args.edge_band,
                                "mode": predictor.mode, "threshold": predictor.threshold}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(scores, indent=2))
    if args.confusion:
        from pixelseg.viz.plots import plot_confusion  # matplotlib: only when asked for

        Path(args.confusion).parent.mkdir(parents=True, exist_ok=True)
        plot_confusion(confusion.matrix.cpu().numpy(), dataset.classes, args.confusion)
    print(tally.rate_line())
    return 0
