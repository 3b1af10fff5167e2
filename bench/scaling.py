"""Images per second of `pixelseg predict` over a folder, on 1 and on 2 processes (torchrun, gloo).

    python bench/scaling.py                          # the bundled person model on human_seg's val photos
    python bench/scaling.py --quick                  # 4 photos, tiny model: a smoke test of the script
    python bench/scaling.py --folder DIR --checkpoint runs/x/best.pt --processes 1,2,4 --repeats 3

Every setting runs the real command, `torchrun --nproc_per_node N -m pixelseg predict FOLDER --out
TMP --threads T --quiet`, into a fresh temporary folder, and reads the rate pixelseg prints at the
end: images done by all processes over the slowest process's time, from when every process has
loaded the model (so the start-up of Python, torch and the process group is not in it; the wall
time, which includes it, is shown beside). T, the threads per process, is the cores divided by the
processes unless `--threads` says otherwise, so that N processes never ask for more than the
machine's cores. Each setting is run `--repeats` times and the best kept: on a shared machine other
processes only ever add time.
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATE = re.compile(r"^(\d+) \w+ in ([\d.]+) s: ([\d.]+) \w+/s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(folder: Path, checkpoint: str, processes: int, threads: int, extra: list[str]) -> tuple[float, float, int]:
    """(images/s as pixelseg reports it, wall seconds of the whole command, images) of one run."""
    with tempfile.TemporaryDirectory(prefix="pixelseg-scaling-") as out:
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(processes),
                   "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
                   "-m", "pixelseg", "predict", "--checkpoint", checkpoint, str(folder), "--out", out,
                   "--threads", str(threads), "--quiet", *extra]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
        started = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"bench/scaling.py: {' '.join(command)} failed:\n{result.stderr[-2000:]}")
    match = next((RATE.match(line) for line in result.stdout.splitlines() if RATE.match(line)), None)
    if match is None:
        raise SystemExit(f"bench/scaling.py: no rate line in the output:\n{result.stdout}")
    return float(match[3]), wall, int(match[1])


def quick_setup(folder: Path) -> str:
    """4 small photos and a tiny random U-Net, in `folder`: enough to see the script work."""
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(ROOT))
    from tests.inference.helpers import tiny_checkpoint

    photos = folder / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    return str(tiny_checkpoint(folder / "tiny.pt"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=ROOT / ".." / "shared" / "datasets" / "human_seg" / "images" / "val")
    parser.add_argument("--checkpoint", default="person", help="a checkpoint or a bundled model's name (default: person)")
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts (default 1,2)")
    parser.add_argument("--threads", type=int, default=None, help="threads per process (default: cores / processes, at least 1)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per setting (best kept)")
    parser.add_argument("--quick", action="store_true", help="4 generated photos, a tiny model, one run: a smoke test")
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="after --: more `pixelseg predict` flags (e.g. -- --batch-size 4)")
    args = parser.parse_args(argv)
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="pixelseg-scaling-quick-") as scratch:
        folder, checkpoint, repeats = args.folder, args.checkpoint, args.repeats
        if args.quick:
            checkpoint, folder, repeats = quick_setup(Path(scratch)), Path(scratch) / "photos", 1
        if not folder.is_dir():
            raise SystemExit(f"bench/scaling.py: --folder {folder}: no such folder")
        print(f"predict over {folder.resolve()} with {checkpoint}; {cores} CPUs; load average {os.getloadavg()[0]:.2f}"
              + (f"; flags {' '.join(extra)}" if extra else ""))
        print()
        print("| processes | threads per process | images/s | wall s (with start-up) |")
        print("|---|---|---|---|")
        for processes in (int(p) for p in args.processes.split(",")):
            threads = args.threads or max(1, cores // processes)
            runs = [run_once(folder, checkpoint, processes, threads, extra) for _ in range(repeats)]
            rate, wall, _ = max(runs)
            print(f"| {processes} | {threads} | {rate:.1f} | {min(w for _, w, _ in runs):.1f} |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
