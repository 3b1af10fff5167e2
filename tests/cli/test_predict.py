"""`pixelseg predict` on files, folders, globs and videos; both runtimes."""
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixelseg.cli import main
from tests.inference.helpers import exported_onnx, tiny_checkpoint, video_facts, write_video


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """--threads and --runtime onnx set PyTorch's thread count for the process; later tests keep theirs."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.pt")


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, shape in [("a.png", (40, 52)), ("b.jpg", (33, 61)), ("c.png", (40, 52)), ("d.png", (40, 52))]:
        Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(folder / name)
    return folder


def masks(folder, stems):
    return {stem: np.asarray(Image.open(folder / f"{stem}.png")) for stem in stems}


def test_folder_with_batches_and_probabilities(checkpoint, photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(checkpoint), str(photos), "--out", str(out), "--batch-size", "2", "--probabilities", "--quiet"]) == 0
    assert "segmented 4 images" in capsys.readouterr().out
    for stem, size in [("a", (52, 40)), ("b", (61, 33))]:
        with Image.open(out / f"{stem}.png") as mask:
            assert mask.mode == "P" and mask.size == size
        with Image.open(out / f"{stem}_overlay.jpg") as overlay:
            assert overlay.size == size
        greys = np.stack([np.asarray(Image.open(out / f"{stem}_prob_{name}.png")) for name in ("background", "person", "sky")]).astype(int)
        assert greys.shape == (3, size[1], size[0])
        assert np.abs(greys.sum(0) - 255).max() <= 2  # probabilities sum to 1, up to rounding
    # Batched (a, c, d share a size) and one-by-one agree.
    single = tmp_path / "single"
    assert main(["predict", "--checkpoint", str(checkpoint), str(photos), "--out", str(single), "--quiet"]) == 0
    batched_masks, single_masks = masks(out, "abcd"), masks(single, "abcd")
    assert all(np.array_equal(batched_masks[s], single_masks[s]) for s in "abcd")


def test_glob_window_and_tta(checkpoint, photos, tmp_path):
    out = tmp_path / "out"
    code = main(["predict", "--checkpoint", str(checkpoint), str(photos / "*.png"), "--out", str(out), "--max-size", "48", "--window", "32x40",
                 "--tta", "flip", "--threads", "1", "--quiet"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith("_overlay.jpg")) == ["a.png", "c.png", "d.png"]


def test_video_gives_an_overlay_video_and_per_frame_masks(checkpoint, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", frames=6, size=(48, 64), fps=12)
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(checkpoint), str(clip), "--out", str(out), "--batch-size", "4", "--quiet"]) == 0
    facts = video_facts(out / "clip_overlay.mp4")
    assert (facts["frames"], facts["size"], facts["rate"]) == (6, (48, 64), Fraction(12))
    frames = sorted((out / "clip_masks").iterdir())
    assert [p.name for p in frames] == [f"{i:06d}.png" for i in range(6)]
    assert np.asarray(Image.open(frames[0])).shape == (48, 64)


def test_onnx_runtime_matches_torch(checkpoint, photos, tmp_path):
    onnx_path = exported_onnx(checkpoint)
    for runtime, model in (("torch", checkpoint), ("onnx", onnx_path)):
        assert main(["predict", "--checkpoint", str(model), "--runtime", runtime, str(photos), "--out", str(tmp_path / runtime), "--quiet"]) == 0
    torch_masks, onnx_masks = masks(tmp_path / "torch", "abcd"), masks(tmp_path / "onnx", "abcd")
    agreement = np.mean([(torch_masks[s] == onnx_masks[s]).mean() for s in "abcd"])
    assert agreement >= 0.999
    assert torch.get_num_threads() == 1  # ONNX Runtime runs the network; PyTorch only resizes, on one thread


def test_a_bad_image_in_a_folder_is_reported_and_skipped(checkpoint, photos, tmp_path, capsys):
    """The others are still done; the summary says what failed, and the exit status is 1."""
    (photos / "bb.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(checkpoint), str(photos), "--out", str(out), "--quiet"]) == 1
    printed, err = capsys.readouterr()
    assert err.strip().splitlines() == [f"pixelseg predict: error: {photos / 'bb.png'}: unreadable image (cannot identify image file {str(photos / 'bb.png')!r})"]
    assert "segmented 4 images" in printed and "1 of 5 inputs failed: bb.png" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}{x}" for s in "abcd" for x in (".png", "_overlay.jpg"))


def test_killed_then_run_again_finishes_the_rest(checkpoint, tmp_path):
    """kill -9 half-way, then the same command with --skip-existing: what was written stays, the rest
    is done, and no file is torn (outputs are renamed into place whole; leftover temporaries go)."""
    photos = tmp_path / "many"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(photos / f"{i:03d}.png")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "pixelseg", "predict", "--checkpoint", str(checkpoint), str(photos), "--out", str(out), "--quiet", "--skip-existing"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and len(list(out.glob("*_overlay.jpg"))) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*_overlay.jpg")}
    assert 0 < len(first) < 40, "the run was not stopped half-way"

    assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left
    for i in range(40):
        for name in (f"{i:03d}.png", f"{i:03d}_overlay.jpg"):
            with Image.open(out / name) as written:
                written.load()  # a torn file would not decode
    assert all((out / name).stat().st_mtime_ns == mtime for name, mtime in first.items())  # done once, not again


@pytest.mark.shared
def test_real_photos_keep_their_own_sizes(checkpoint, shared_datasets, tmp_path):
    photos = sorted((shared_datasets / "human_seg" / "images" / "val").glob("*.jpg"))[:3]
    assert main(["predict", "--checkpoint", str(checkpoint), *map(str, photos), "--out", str(tmp_path / "out"), "--batch-size", "2", "--quiet"]) == 0
    for photo in photos:
        with Image.open(photo) as original, Image.open(tmp_path / "out" / f"{photo.stem}.png") as mask:
            assert mask.size == original.size
