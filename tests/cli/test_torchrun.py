"""`predict`, `apply` and `evaluate` under torchrun: 2 CPU processes (gloo) give exactly what 1 gives,
and a run with one rank killed finishes on a rerun with --skip-existing, rewriting nothing whole."""
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelseg.cli import main
from pixelseg.data.synthetic import generate_dataset
from tests.inference.helpers import tiny_checkpoint

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # each torchrun start imports torch in three processes: seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args, processes: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(processes),
            "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", "pixelseg", *map(str, args)]


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=ENV, cwd=REPO, capture_output=True, text=True, timeout=900)


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def photos(folder: Path, count: int, size: int = 48) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size + i % 3, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.pt")


def test_evaluate_on_two_processes_writes_one_process_json(tmp_path, capsys):
    """9 images in batches of 2: 5 batches, 3 on rank 0 and 2 on rank 1, summed into one matrix."""
    data = generate_dataset(tmp_path / "data", train=1, val=9, size=40, progress=False)
    ckpt = tiny_checkpoint(tmp_path / "m.pt", classes=(data / "classes.txt").read_text().split())
    common = ["evaluate", "--checkpoint", ckpt, "--data", data, "--batch-size", "2", "--device", "cpu", "--quiet"]
    two = run(torchrun(*common, "--json", tmp_path / "two.json", "--threads", "1"))
    assert two.returncode == 0, two.stderr
    assert main([*map(str, common), "--json", str(tmp_path / "one.json")]) == 0
    one_printed = capsys.readouterr().out
    assert (tmp_path / "two.json").read_text() == (tmp_path / "one.json").read_text()  # exactly: the same bytes
    scores = json.loads((tmp_path / "one.json").read_text())
    assert sum(map(sum, scores["confusion"])) == 9 * 40 * 40  # every pixel once, none twice
    # Rank 0 alone prints the table, then the rate of both processes together.
    assert two.stdout.count("mIoU") == 1
    assert two.stdout.splitlines()[-1].startswith("9 images in ") and two.stdout.splitlines()[-1].endswith("images/s (2 processes)")
    assert one_printed.splitlines()[-1].endswith("images/s (1 process)")
    assert two.stdout.splitlines()[:-1] == one_printed.splitlines()[:-1]


def test_predict_on_two_processes_writes_one_process_files(checkpoint, tmp_path, capsys):
    folder = photos(tmp_path / "photos", 7)
    two, one = tmp_path / "two", tmp_path / "one"
    result = run(torchrun("predict", "--checkpoint", checkpoint, folder, "--out", two, "--probabilities", "--threads", "1", "--quiet"))
    assert result.returncode == 0, result.stderr
    assert main(["predict", "--checkpoint", str(checkpoint), str(folder), "--out", str(one), "--probabilities", "--quiet"]) == 0
    assert len(digests(one)) == 7 * (2 + 3)  # mask, overlay, 3 probabilities per image
    assert digests(two) == digests(one)      # byte for byte, names included
    lines = result.stdout.splitlines()
    assert lines[0] == f"segmented 7 images into {two}" and len(lines) == 2 and lines[1].startswith("7 images in ")


def test_apply_on_two_processes_writes_one_process_files(checkpoint, tmp_path):
    folder = photos(tmp_path / "photos", 5)
    two, one = tmp_path / "two", tmp_path / "one"
    result = run(torchrun("apply", "blur", folder, "--out", two, "--checkpoint", checkpoint, "--quiet"))
    assert result.returncode == 0, result.stderr
    assert main(["apply", "blur", str(folder), "--out", str(one), "--checkpoint", str(checkpoint), "--quiet"]) == 0
    assert len(digests(one)) == 5 and digests(two) == digests(one)
    assert result.stdout.count("blur on 5 files") == 1 and result.stdout.splitlines()[-1].endswith("images/s (2 processes)")


def worker_of_rank(launcher: subprocess.Popen, rank: int) -> int | None:
    """The pid of torchrun's worker process with RANK=rank (Linux: from /proc), None before it starts."""
    for pid in Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ:
            return int(pid)
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds torchrun's workers through /proc")
def test_a_killed_rank_then_a_rerun_with_skip_existing_finishes_the_rest(checkpoint, tmp_path):
    """kill -9 rank 1 half-way (torchrun then stops rank 0), rerun the same command: the rest is done,
    nothing whole is written again (same inode, same mtime), and the files are one process's."""
    count = 80
    folder = photos(tmp_path / "photos", count, size=96)
    out = tmp_path / "out"
    command = torchrun("predict", "--checkpoint", checkpoint, folder, "--out", out, "--skip-existing", "--threads", "1", "--quiet")
    launcher = subprocess.Popen(command, env=ENV, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rank_1_masks = [out / f"{i:03d}.png" for i in range(1, count, 2)]  # sorted inputs, every 2nd from position 1
    deadline = time.monotonic() + 600  # a loaded machine starts torch slowly
    victim = None
    while launcher.poll() is None and time.monotonic() < deadline:
        victim = victim or worker_of_rank(launcher, 1)
        if victim and sum(p.exists() for p in rank_1_masks) >= 3:
            os.kill(victim, signal.SIGKILL)
            break
        time.sleep(0.005)
    assert launcher.wait(timeout=600) != 0, "the run ended before rank 1 was killed"
    # The inputs done: both outputs there (a rank stopped between an input's mask and its overlay left it undone).
    done = [f"{i:03d}" for i in range(count) if (out / f"{i:03d}.png").exists() and (out / f"{i:03d}_overlay.jpg").exists()]
    assert 3 <= len(done) < count, "the run was not stopped half-way"
    whole = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for stem in done for p in (out / f"{stem}.png", out / f"{stem}_overlay.jpg")}

    again = run(command)
    assert again.returncode == 0, again.stderr
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # stale temporaries of the killed ranks: gone
    assert {name: (out / name).stat().st_ino for name in whole} == {name: ino for name, (ino, _) in whole.items()}
    assert all((out / name).stat().st_mtime_ns == mtime for name, (_, mtime) in whole.items())
    reported = again.stdout.splitlines()
    assert reported[0] == f"segmented {count} images into {out}"
    assert reported[1].startswith(f"{count - len(done)} images in ")  # only what was missing was segmented
    one = tmp_path / "one"
    assert main(["predict", "--checkpoint", str(checkpoint), str(folder), "--out", str(one), "--quiet"]) == 0
    assert digests(out) == digests(one)
