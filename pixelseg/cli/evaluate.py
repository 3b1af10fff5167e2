"""pixelseg evaluate"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from pixelseg.cli.options import add_runtime_arguments
from pixelseg.data.collate import pad_collate
from pixelseg.data.folder import SegmentationFolder
from pixelseg.engine.checkpoint import load_checkpoint, model_from_checkpoint
from pixelseg.engine.evaluator import evaluate
from pixelseg.engine.trainer import resolve_device
from pixelseg.errors import DataError

HELP = "score a checkpoint on a split: per-class IoU, mIoU, pixel accuracy"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the scores as JSON")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--quiet", action="store_true")
    add_runtime_arguments(parser)


def format_table(scores: dict) -> str:
    lines = [f"{'class':<20} {'IoU':>8}"]
    for name, iou in scores["per_class_iou"].items():
        lines.append(f"{name:<20} {'—' if iou is None else f'{iou:.4f}':>8}")
    lines.append(f"{'mIoU':<20} {scores['miou']:>8.4f}")
    lines.append(f"{'pixel accuracy':<20} {scores['pixel_accuracy']:>8.4f}")
    return "\n".join(lines)


def run(args) -> int:
    checkpoint = load_checkpoint(args.checkpoint)
    model = model_from_checkpoint(checkpoint)
    dataset = SegmentationFolder(args.data, args.split, mean=checkpoint["mean"], std=checkpoint["std"])
    if dataset.classes != checkpoint["classes"]:
        raise DataError(f"{Path(args.data) / 'classes.txt'}: classes {dataset.classes} differ from the checkpoint's {checkpoint['classes']}")
    device = resolve_device(args.device)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, collate_fn=pad_collate)
    confusion, _ = evaluate(model.to(device, memory_format=torch.channels_last), loader, dataset.num_classes, device, args.precision, progress=not args.quiet)
    scores = confusion.compute().as_dict(dataset.classes)
    print(format_table(scores))
    if args.json:
        wanted = {k: scores[k] for k in ("miou", "pixel_accuracy", "per_class_iou")}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(wanted, indent=2))
    return 0
