"""Speed of the data loader alone, in images/s, on CamVid with the default training augmentation.

    python bench/data.py                       # ../shared/datasets/camvid, train split
    python bench/data.py --quick               # 64 images per measurement, a smoke test
    python bench/data.py --data DIR --split val --batch-size 8 --workers 0,1,2
    python bench/data.py --workers 0 --main-threads 1   # in-process loading on one torch thread

What is measured is exactly what training iterates over: SegmentationFolder(train split,
train_transform(AugmentConfig())) -> DataLoader(batch 8, shuffle, pad_collate, persistent workers),
i.e. decode (unless cached) + random scale + flip + colour jitter + normalise + collate. No model.

Two cache settings:
- uncached: `cache_bytes=0`, every image is decoded from PNG/JPEG every epoch;
- cached: the split is decoded once in the main process (`check_all()`, as the trainer does) before
  the workers fork, so every worker starts with the whole decoded set (shared copy-on-write).

For each setting and num_workers in 0/1/2: one warm-up epoch (worker start-up, first-touch), then
the best of `--repeats` timed epochs: on a shared machine other processes only ever add time.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelseg.data.collate import pad_collate  # noqa: E402
from pixelseg.data.folder import SegmentationFolder  # noqa: E402
from pixelseg.data.transforms import AugmentConfig, train_transform  # noqa: E402


def epoch_rate(loader, limit: int | None) -> float:
    """Images per second over one pass (or the first `limit` images)."""
    seen = 0
    started = time.perf_counter()
    for images, _ in loader:
        seen += images.shape[0]
        if limit is not None and seen >= limit:
            break
    return seen / (time.perf_counter() - started)


def measure(root: Path, split: str, cached: bool, workers: int, batch_size: int, repeats: int, limit: int | None) -> float:
    torch.manual_seed(0)
    dataset = SegmentationFolder(root, split, transform=train_transform(AugmentConfig()), cache_bytes=(4 << 30) if cached else 0)
    if limit is not None:
        dataset.samples = dataset.samples[:limit]
    if cached:
        dataset.check_all()  # decode everything once, before the workers fork
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, collate_fn=pad_collate, num_workers=workers,
        persistent_workers=workers > 0, drop_last=False,
    )
    epoch_rate(loader, limit)  # warm-up: worker start-up
    best = max(epoch_rate(loader, limit) for _ in range(repeats))
    del loader
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "datasets" / "camvid")
    parser.add_argument("--split", default="train")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", default="0,1,2", help="comma-separated num_workers values")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs per measurement (best kept)")
    parser.add_argument("--quick", action="store_true", help="64 images, one timed epoch")
    parser.add_argument("--main-threads", type=int, default=None,
                        help="torch intra-op threads of the main process (what num_workers=0 uses; workers always use 1)")
    args = parser.parse_args(argv)
    if args.main_threads:
        torch.set_num_threads(args.main_threads)
    limit = 64 if args.quick else None
    repeats = 1 if args.quick else args.repeats
    workers = [int(w) for w in args.workers.split(",")]

    dataset = SegmentationFolder(args.data, args.split)
    image, _ = dataset.load(0)
    print(f"data: {args.data.resolve()} split {args.split}: {len(dataset)} images, first {image.shape[1]}×{image.shape[0]}; "
          f"batch {args.batch_size}; torch {torch.__version__}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print("augmentation: AugmentConfig() =", AugmentConfig())
    print()
    print("| cache | num_workers | images/s |")
    print("|---|---|---|")
    for cached in (False, True):
        for count in workers:
            rate = measure(args.data, args.split, cached, count, args.batch_size, repeats, limit)
            print(f"| {'cached' if cached else 'uncached'} | {count} | {rate:.1f} |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
