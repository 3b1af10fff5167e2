import os

import pytest
import torch

import pixelseg
from pixelseg.engine.checkpoint import atomic_save, checkpoint_payload, load_checkpoint, model_from_checkpoint
from pixelseg.errors import PixelsegError


def test_checkpoint_rebuilds_the_same_model(tmp_path):
    model = pixelseg.create_model("unet", 3, base_channels=4, depth=2).eval()
    atomic_save(checkpoint_payload(model, ["a", "b", "c"], (0.5,) * 3, (0.25,) * 3, epoch=2), tmp_path / "m.pt")
    checkpoint = load_checkpoint(tmp_path / "m.pt")
    rebuilt = model_from_checkpoint(checkpoint)
    x = torch.randn(1, 3, 40, 36)
    assert torch.equal(model(x), rebuilt(x))
    assert checkpoint["classes"] == ["a", "b", "c"] and checkpoint["epoch"] == 2 and checkpoint["mean"] == [0.5] * 3


def test_atomic_save_leaves_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "last.pt"
    atomic_save({"v": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_save({"v": Unpicklable()}, path)
    assert torch.load(path)["v"] == 1
    assert os.listdir(tmp_path) == ["last.pt"]  # no temporary file left behind


def test_load_refuses_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(PixelsegError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    good = tmp_path / "good.pt"
    atomic_save(checkpoint_payload(pixelseg.create_model("unet", 2, base_channels=4, depth=2), ["x", "y"], (0,) * 3, (1,) * 3), good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(PixelsegError, match="not a readable checkpoint"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": 1}, foreign)
    with pytest.raises(PixelsegError, match="not a pixelseg checkpoint"):
        load_checkpoint(foreign)
