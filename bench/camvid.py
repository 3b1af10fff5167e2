"""CamVid from scratch: pixelseg's recipe (configs/camvid.yaml) beside segmentation_models_pytorch's
Unet(resnet18), both from random initialisation, trained one after the other by the same trainer —
same data, augmentation, loss, schedule, precision and wall-clock budget; only the network differs.

    python bench/camvid.py                    # 60 minutes each, the recipe's budget (2+ hours in all)
    python bench/camvid.py --minutes 3        # a smoke test of the whole pipeline

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

from pixelseg.engine.config import load_config  # noqa: E402
from pixelseg.engine.trainer import train  # noqa: E402
from pixelseg.models.registry import register_model  # noqa: E402
from pixelseg.nn.padding import crop_to, pad_to_multiple  # noqa: E402

SECTION = "## CamVid from scratch"
PEER = "smp_unet_resnet18"


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
    ax.set(xlabel="minutes (training + validation)", ylabel="val mIoU", title=f"CamVid from scratch, {minutes:g} min each", ylim=(0, None))
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


def section_text(results: dict, args, base, command: str, loads: tuple, figure: Path, doc: Path) -> str:
    full = args.minutes >= 60
    lines = [SECTION, ""]
    lines.append(f"Command: `{command}` — run {datetime.date.today().isoformat()} on {cpu_name()}, "
                 f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} intra-op threads.")
    lines.append("")
    a = base.augment
    lines.append(f"Both networks from random initialisation, trained by `pixelseg train` with `{args.config}` (time budget "
                 f"{args.minutes:g} min of training + validation each; batch {base.batch_size}, crops {a.crop_size[0]}×{a.crop_size[1]} "
                 f"of images rescaled ×{a.scale[0]:g}-{a.scale[1]:g}, flips, colour jitter; {base.loss}; {base.optimizer} lr {base.lr:g}, "
                 f"warm-up + {base.schedule} decay by time; {base.precision}, channels_last); only the network differs. "
                 "Val mIoU on the 101 full 480×360 val images, from one confusion matrix over the split; the best epoch's.")
    lines.append("")
    lines.append(f"Load average {loads[0]:.1f} before, {loads[1]:.1f} after, on {os.cpu_count()} cores.")
    lines.append("")
    if not full:
        lines.append(f"**Short-budget figures, not the recipe's result.** {args.minutes:g} minutes per model instead of 60: "
                     "they show the pipeline runs end to end, not what either network reaches in an hour. "
                     "The 60-minute comparison is `python bench/camvid.py` on a quiet machine (about 2 h 15 min).")
        lines.append("")
    lines.append("| model | parameters | epochs | steps | images/s (incl. validation) | best val mIoU (epoch) | pixel acc. |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        best = max(r["rows"], key=lambda row: row["val_miou"])
        lines.append(f"| {name} | {r['parameters'] / 1e6:.2f} M | {len(r['rows'])} | {int(r['rows'][-1]['step'])} | "
                     f"{r['images_per_second']:.2f} | **{best['val_miou']:.3f}** ({int(best['epoch'])}) | {best['val_pixel_accuracy']:.3f} |")
    lines.append("")
    lines.append(f"![val mIoU against time]({Path(os.path.relpath(figure, doc.parent)).as_posix()})")
    lines.append("")
    lines.append("For scale: SegNet-Basic's published CamVid test mIoU is 0.463 (GPU-trained); the aim of the 60-minute recipe "
                 "is val mIoU ≥ 0.55.")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT / ".." / "shared" / "datasets" / "camvid"))
    parser.add_argument("--config", default="configs/camvid.yaml")
    parser.add_argument("--minutes", type=float, default=None, help="time budget per model (default: the config's, 60)")
    parser.add_argument("--out", default="runs/bench_camvid")
    parser.add_argument("--models", default=f"pixelseg,{PEER}", help="which of the two to train (comma-separated)")
    parser.add_argument("--doc", default="docs/benchmarks.md")
    parser.add_argument("--figure", default="docs/camvid_from_scratch.png")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    command = "python bench/camvid.py " + " ".join(sys.argv[1:])

    base = load_config(ROOT / args.config, {"data": args.data})
    args.minutes = args.minutes or base.time_budget
    loads = [os.getloadavg()[0]]
    results = {}
    for name in args.models.split(","):
        model = {"pixelseg": (base.model, base.model_options), PEER: (PEER, {})}[name]
        config = load_config(ROOT / args.config, {"data": args.data, "out": str(Path(args.out) / name), "time_budget": args.minutes,
                                                  "model": model[0], "model_options": model[1]})
        config.model_options = dict(model[1])  # replace, not merge, the options (the peer takes none)
        print(f"== {name}: {args.minutes:g} min", flush=True)
        started = time.perf_counter()
        best = train(config, progress=not args.quiet)
        rows = read_rows(Path(config.out))
        import pixelseg

        parameters = sum(p.numel() for p in pixelseg.create_model(config.model, 11, **config.model_options).parameters())
        seconds = sum(r["seconds"] for r in rows)
        results[name] = {"rows": rows, "best": best, "parameters": parameters,
                         "images_per_second": rows[-1]["step"] * config.batch_size / seconds}
        print(f"{name}: best val mIoU {best['miou']:.4f} in {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    loads.append(os.getloadavg()[0])

    doc, figure = ROOT / args.doc, ROOT / args.figure
    figure.parent.mkdir(parents=True, exist_ok=True)
    plot(results, figure, args.minutes)
    write_section(doc, section_text(results, args, base, command, tuple(loads), figure, doc))
    print(f"wrote {doc} ({SECTION!r}) and {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
