"""CamVid: pixelseg's from-scratch recipe (configs/camvid.yaml), its pretrained track
(configs/camvid-pretrained.yaml) and segmentation_models_pytorch's Unet(resnet18) from random
initialisation, trained one after the other by the same trainer — same data, augmentation, loss,
schedule, precision and wall-clock budget.

    python bench/camvid.py                    # 60 minutes each, the recipes' budget (3+ hours in all)
    python bench/camvid.py --minutes 3        # a smoke test of the whole pipeline
    python bench/camvid.py --held-out none    # the old protocol: select on the val split
    python bench/camvid.py --models pixelseg-pretrained   # one model per sitting; then:
    python bench/camvid.py --resume           # runs already finished are read, not retrained;
                                              # one killed midway continues from its last.pt

Two scores per model. Held-out sequence (default 0006R0, `--val-groups`, docs/training.md): the
model never sees that sequence, training keeps best.pt by it; it predicts what a user gets on new
streets. In-sequence: the val split (all 0016E5, a sequence training sees), scored with best.pt
afterwards; it rewards memorising streets, and is reported so the two can be compared.

Writes runs/bench_camvid/{pixelseg,smp_unet_resnet18}/ (ordinary run folders), the curves
docs/camvid_from_scratch.png, and the "## CamVid from scratch" section of docs/benchmarks.md
(only that section; the rest of the file is left as it is).

The peer needs `make bench-deps` (segmentation-models-pytorch); smp is never imported by
pixelseg itself. Its Unet needs sides divisible by 32, so it runs inside a wrapper that pads the
input (as pixelseg's own models do inside) and crops the logits back.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import re
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelseg.data.groups import group_split  # noqa: E402
from pixelseg.engine.config import load_config  # noqa: E402
from pixelseg.engine.trainer import train  # noqa: E402
from pixelseg.models.registry import create_model, register_model  # noqa: E402
from pixelseg.nn.padding import crop_to, pad_to_multiple  # noqa: E402

SECTION = "## CamVid from scratch"
PEER = "smp_unet_resnet18"
# name -> (config file, model and options replacing the config's; None: the config's own)
ENTRIES = {
    "pixelseg": ("configs/camvid.yaml", None),
    "pixelseg-pretrained": ("configs/camvid-pretrained.yaml", None),
    PEER: ("configs/camvid.yaml", (PEER, {})),
}


class PaddedSmpUnet(nn.Module):
    """smp.Unet("resnet18", encoder_weights=None): random initialisation, no download."""

    def __init__(self, num_classes: int, in_channels: int = 3):
        super().__init__()
        import segmentation_models_pytorch as smp

        self.net = smp.Unet("resnet18", encoder_weights=None, in_channels=in_channels, classes=num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, 32)   # (B, 3, H', W'), H' and W' multiples of 32
        return crop_to(self.net(x), size)  # (B, C, H, W)


@register_model(PEER)
def smp_unet_resnet18(num_classes: int, in_channels: int = 3, **options) -> nn.Module:
    return PaddedSmpUnet(num_classes, in_channels)


def read_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return [{k: float(v) if v not in ("", None) else None for k, v in r.items()} for r in csv.DictReader(f)]


def plot(results: dict, out: Path, minutes: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, result in results.items():
        rows = result["rows"]
        ax.plot([r["elapsed"] / 60 for r in rows], [r["val_miou"] for r in rows], marker="o", markersize=3, label=name)
    ax.set(xlabel="minutes (training + validation)", ylabel="val mIoU (held-out sequence)", title=f"CamVid, {minutes:g} min each", ylim=(0, None))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def section_text(results: dict, args, command: str, loads: tuple, figure: Path, doc: Path) -> str:
    lines = [SECTION, ""]
    lines.append(f"Command: `{command}` — run {datetime.date.today().isoformat()} on {cpu_name()}, "
                 f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} intra-op threads.")
    lines.append("")
    base = load_config(ROOT / ENTRIES["pixelseg"][0], {"data": args.data})
    a = base.augment
    lines.append(f"Each model trained by `pixelseg train` for {args.minutes:g} min of training + validation (batch {base.batch_size}, "
                 f"crops {a.crop_size[0]}×{a.crop_size[1]} of images rescaled ×{a.scale[0]:g}-{a.scale[1]:g}, flips, colour jitter; "
                 f"{base.loss}; {base.optimizer}, warm-up + {base.schedule} decay by time; {base.precision}, channels_last). "
                 "pixelseg and smp from random initialisation with configs/camvid.yaml; pixelseg-pretrained with "
                 "configs/camvid-pretrained.yaml (EfficientNet-Lite0 from ImageNet). Scores on full 480×360 images, one "
                 "confusion matrix over each set.")
    lines.append("")
    if args.held_out:
        lines.append(f"**Held-out**: the {results[next(iter(results))]['held_images']} frames of sequence(s) {', '.join(args.held_out)}, "
                     "which no training frame comes from; best.pt is the epoch best on it. **In-sequence**: the val split's "
                     "frames of the sequences training sees (0016E5), scored with that best.pt.")
    else:
        lines.append("Old protocol (`--held-out none`): best.pt by the val split, which shares its sequence with training.")
    lines.append("")
    lines.append(f"Load average {loads[0]:.1f} before, {loads[1]:.1f} after, on {os.cpu_count()} cores."
                 + (" The models were trained one per sitting and collected with `--resume`, each run with the machine to itself."
                    if args.resume else ""))
    lines.append("")
    if args.minutes < 60:
        lines.append(f"**Short-budget figures, not the recipes' results.** {args.minutes:g} minutes per model instead of 60: "
                     "they show the pipeline runs end to end, not what a network reaches in an hour.")
        lines.append("")
    lines.append("| model | parameters | epochs | images/s (incl. validation) | held-out mIoU (best epoch) | in-sequence mIoU |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        best = max(r["rows"], key=lambda row: row["val_miou"])
        held = f"**{best['val_miou']:.3f}** ({int(best['epoch'])})" if args.held_out else "—"
        inseq = r["in_sequence_miou"]
        lines.append(f"| {name} | {r['parameters'] / 1e6:.2f} M | {len(r['rows'])} | {r['images_per_second']:.2f} | {held} | "
                     f"{inseq:.3f} |")
    lines.append("")
    missing = [name for name in ENTRIES if name not in results]
    if missing:
        lines.append(f"Not run yet: {', '.join(missing)} (`python bench/camvid.py --resume` trains what is missing and keeps the rest).")
        lines.append("")
    lines.append(f"![val mIoU against time]({Path(os.path.relpath(figure, doc.parent)).as_posix()})")
    lines.append("")
    lines.append("For scale, published mIoU on CamVid's test split (mostly sequence Seq05VD, unseen in training): ENet "
                 "from scratch 0.51-0.53, SegNet-Basic 0.463, FC-DenseNet103 0.586-0.669, DDRNet-23-slim 0.744. "
                 "Aims here: held-out ≥ 0.55 from scratch, ≥ 0.65 pretrained.")
    return "\n".join(lines) + "\n"


def write_section(doc: Path, text: str) -> None:
    """Replace our section (from its heading to the next '## ' heading) or append it; nothing else changes."""
    old = doc.read_text() if doc.is_file() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: text + "\n", old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    doc.write_text(new.rstrip("\n") + "\n")


def in_sequence_miou(checkpoint: Path, data: str, held_out: list[str]) -> float:
    """mIoU of `checkpoint` on the val split's images outside the held-out groups."""
    from pixelseg.data.folder import SegmentationFolder, list_samples
    from pixelseg.data.groups import DEFAULT_GROUP_BY, group_pattern, hold_out_known
    from pixelseg.inference.predictor import Predictor
    from pixelseg.inference.scoring import score_split

    samples, _ = hold_out_known(list_samples(data, "val"), group_pattern(DEFAULT_GROUP_BY), held_out)
    predictor = Predictor.from_checkpoint(checkpoint)
    confusion = score_split(predictor, SegmentationFolder(data, "val", samples=samples), batch_size=4, progress=False)
    return confusion.compute().as_dict(predictor.classes)["miou"]


def run_state(run: Path, minutes: float) -> str:
    """"finished" (its metrics reach the budget: the trainer stops when the next epoch would not
    fit, so within an epoch of it), "unfinished" (a last.pt to resume), or "new"."""
    if not (run / "last.pt").is_file():
        return "new"
    rows = read_rows(run) if (run / "metrics.csv").is_file() else []
    if rows and (run / "best.pt").is_file():
        epoch_seconds = max(r["seconds"] for r in rows)
        if rows[-1]["elapsed"] + 1.5 * epoch_seconds >= 60 * minutes:
            return "finished"
    return "unfinished"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT / ".." / "shared" / "datasets" / "camvid"))
    parser.add_argument("--minutes", type=float, default=60, help="time budget per model (default 60, the recipes')")
    parser.add_argument("--held-out", default="0006R0", help="sequences held out for validation, comma-separated; none: the val split")
    parser.add_argument("--out", default="runs/bench_camvid")
    parser.add_argument("--models", default=",".join(ENTRIES), help=f"which to train (comma-separated from {', '.join(ENTRIES)})")
    parser.add_argument("--doc", default="docs/benchmarks.md")
    parser.add_argument("--figure", default="docs/camvid_from_scratch.png")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--resume", action="store_true",
                        help="keep runs under --out: a finished one (its budget used) is read as it is, an unfinished one continues from last.pt")
    args = parser.parse_args()
    args.held_out = [] if args.held_out.lower() == "none" else [g for g in args.held_out.split(",") if g]
    command = "python bench/camvid.py " + " ".join(sys.argv[1:])

    held_images = len(group_split(args.data, "train", "val", args.held_out)[1]) if args.held_out else 0
    loads = [os.getloadavg()[0]]
    results = {}
    for name in args.models.split(","):
        config_file, model = ENTRIES[name]
        overrides = {"data": args.data, "out": str(Path(args.out) / name), "time_budget": args.minutes}
        if args.held_out:
            overrides["val_groups"] = args.held_out
        config = load_config(ROOT / config_file, overrides)
        if model is not None:
            config.model, config.model_options = model[0], dict(model[1])  # replace, not merge, the options (the peer takes none)
        started = time.perf_counter()
        state = run_state(Path(config.out), args.minutes) if args.resume else "new"
        print(f"== {name}: {args.minutes:g} min ({state})", flush=True)
        if state != "finished":
            train(config, progress=not args.quiet, resume=state == "unfinished")
        rows = read_rows(Path(config.out))
        best = max(rows, key=lambda row: row["val_miou"])
        parameters = sum(p.numel() for p in create_model(config.model, 11, **config.model_options).parameters())
        seconds = sum(r["seconds"] for r in rows)
        results[name] = {"rows": rows, "best": best, "parameters": parameters, "held_images": held_images,
                         "images_per_second": rows[-1]["step"] * config.batch_size / seconds,
                         "in_sequence_miou": in_sequence_miou(Path(config.out) / "best.pt", args.data, args.held_out)}
        print(f"{name}: best val mIoU {best['val_miou']:.4f}, in-sequence {results[name]['in_sequence_miou']:.4f} "
              f"in {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    loads.append(os.getloadavg()[0])

    doc, figure = ROOT / args.doc, ROOT / args.figure
    figure.parent.mkdir(parents=True, exist_ok=True)
    plot(results, figure, args.minutes)
    write_section(doc, section_text(results, args, command, tuple(loads), figure, doc))
    print(f"wrote {doc} ({SECTION!r}) and {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
