"""Resuming: exactly the same run as without the interruption, and no checkpoint ever truncated."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pixelseg.data.synthetic import generate_dataset
from pixelseg.engine.checkpoint import load_checkpoint
from pixelseg.engine.config import TrainConfig
from pixelseg.engine.trainer import train

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("scenes"), train=8, val=4, size=48, progress=False)


def rows(run) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


class Crash(Exception):
    pass


def test_resume_continues_exactly(scenes, tmp_path):
    """3 epochs straight vs 2 epochs, a crash, and --resume: same weights, optimizer state and metrics,
    bit for bit. Augmentation (scale, flip, colour jitter) and shuffling are on, so this holds only if
    every random state comes back, and AdamW + poly decay only if optimizer and step do."""

    def config(out):
        return TrainConfig(data=str(scenes), out=str(out), model_options={"base_channels": 4, "depth": 2}, epochs=3,
                           batch_size=4, warmup_steps=3, preview_images=1, device="cpu")

    train(config(tmp_path / "straight"), progress=False)

    def crash_after_epoch_2(row):
        if row["epoch"] == 2:
            raise Crash

    with pytest.raises(Crash):
        train(config(tmp_path / "resumed"), progress=False, on_epoch_end=crash_after_epoch_2)
    assert load_checkpoint(tmp_path / "resumed" / "last.pt")["epoch"] == 2
    train(config(tmp_path / "resumed"), progress=False, resume=True)

    a, b = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    for state_a, state_b in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(state_a["exp_avg"], state_b["exp_avg"]) and torch.equal(state_a["exp_avg_sq"], state_b["exp_avg_sq"])
    strip = lambda r: {k: v for k, v in r.items() if k not in ("seconds", "elapsed")}  # noqa: E731
    assert [strip(r) for r in rows(tmp_path / "straight")] == [strip(r) for r in rows(tmp_path / "resumed")]
    assert len(list((tmp_path / "resumed" / "predictions").glob("*.png"))) == 3


@pytest.mark.slow
def test_kill_9_during_an_epoch_then_resume(tmp_path):
    """SIGKILL in the middle of epoch 2, then `pixelseg train --resume`: every .pt in the run folder
    loads (atomic writes: a kill leaves the old file or the new one, never half of one), and the
    resumed run finishes epochs 2 and 3."""
    data = generate_dataset(tmp_path / "data", train=48, val=4, size=48, progress=False)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pixelseg", "train", "--data", str(data), "--out", str(run), "--epochs", "3", "--batch-size", "2",
               "--quiet", "--device", "cpu", "--model-option", "base_channels=4", "--model-option", "depth=2", "--preview-images", "1"]
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # The preview grid is the last file an epoch writes: once it is there, epoch 2 has begun.
        deadline = time.monotonic() + 300
        while not (run / "predictions" / "epoch_001.png").is_file():
            assert process.poll() is None, process.stdout.read().decode()
            assert time.monotonic() < deadline, "epoch 1 never finished"
            time.sleep(0.05)
        epoch_seconds = float(rows(run)[0]["seconds"])
        time.sleep(0.4 * epoch_seconds)  # well inside epoch 2 (24 steps)
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert [r["epoch"] for r in rows(run)] == ["1"], "the kill should land in epoch 2"
    for path in run.glob("*.pt"):
        load_checkpoint(path)  # raises on a truncated file
    assert load_checkpoint(run / "last.pt")["epoch"] == 1

    resumed = subprocess.run([sys.executable, "-m", "pixelseg", "train", "--resume", str(run), "--quiet"], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert [r["epoch"] for r in rows(run)] == ["1", "2", "3"]
    assert load_checkpoint(run / "last.pt")["epoch"] == 3
    assert not list(run.glob(".*.tmp"))
