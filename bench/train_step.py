"""Seconds per training step of `pixelseg train` itself, at two commits side by side in one run.

    python bench/train_step.py                                  # main before issue 16's merge vs HEAD
    python bench/train_step.py --commits 9a1d1ac,HEAD --models unet,lraspp --rounds 3
    python bench/train_step.py --commits e391624,HEAD --models unet --loss ce+dice --size 256

bench/models.py times a bare model step (forward, loss, backward, optimizer); this times the whole
trainer loop that a user runs: the data path, augmentation, the loss bookkeeping, NaN checks and any
sync with the host. Each commit is checked out into a temporary git worktree and run with the same
Python, on the same synthetic data (320 training images of 128² unless --size, 8 validation images so that the
epoch's time is the training steps'), for two epochs; the figure is epoch 2's `seconds` from
metrics.csv divided by its steps (epoch 1 pays for first-call costs). Rounds alternate the commits so
that a busy moment hits both, and the best round counts (other processes only ever add time).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BATCH = 8


def checkout(commit: str, into: Path) -> Path:
    sha = subprocess.run(["git", "rev-parse", "--short", commit], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()
    tree = into / sha
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), sha], cwd=REPO, check=True)
    return tree


def step_seconds(tree: Path, data: Path, model: str, precision: str, loss: str, out: Path) -> float:
    command = [sys.executable, "-m", "pixelseg", "train", "--data", str(data), "--model", model, "--epochs", "2",
               "--batch-size", str(BATCH), "--precision", precision, "--loss", loss, "--preview-images", "0", "--quiet",
               "--overwrite", "--out", str(out)]
    subprocess.run(command, env={**os.environ, "PYTHONPATH": str(tree)}, check=True, cwd=tree, stdout=subprocess.DEVNULL)
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    steps = int(rows[1]["step"]) - int(rows[0]["step"])
    return float(rows[1]["seconds"]) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", default="0474c04^1,HEAD", help="comma-separated revisions (default: before issue 16's merge, and HEAD)")
    parser.add_argument("--models", default="unet,lraspp")
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--loss", default="ce", help="the --loss of pixelseg train (default ce)")
    parser.add_argument("--size", type=int, default=128, help="side of the synthetic square images (default 128)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    commits, models = args.commits.split(","), args.models.split(",")

    sys.path.insert(0, str(REPO))
    from pixelseg.data.synthetic import generate_dataset

    with tempfile.TemporaryDirectory(prefix="train-step-") as tmp:
        tmp = Path(tmp)
        data = generate_dataset(tmp / "data", train=40 * BATCH, val=BATCH, size=args.size, seed=0, progress=False)
        trees = {commit: checkout(commit, tmp) for commit in commits}
        try:
            best: dict[tuple[str, str], float] = {}
            for round_ in range(args.rounds):
                order = commits if round_ % 2 == 0 else commits[::-1]
                for model in models:
                    for commit in order:
                        seconds = step_seconds(trees[commit], data, model, args.precision, args.loss, tmp / "run")
                        key = (model, commit)
                        best[key] = min(best.get(key, float("inf")), seconds)
                        print(f"round {round_ + 1} {model:8s} {commit:12s} {seconds * 1000:7.1f} ms/step", flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=False)

    print(f"\nbest of {args.rounds} rounds, {args.precision}, loss {args.loss}, batch {BATCH} at {args.size}², ms per step:")
    print(f"{'model':8s} " + " ".join(f"{c:>12s}" for c in commits) + "   ratio (last/first)")
    for model in models:
        times = [best[(model, c)] for c in commits]
        print(f"{model:8s} " + " ".join(f"{t * 1000:12.1f}" for t in times) + f"   {times[-1] / times[0]:.3f}")
    if args.json:
        args.json.write_text(json.dumps({f"{m} {c}": best[(m, c)] for m, c in best}, indent=2))


if __name__ == "__main__":
    main()
