"""A checkpoint says how to run it: its "inference" entry sets the defaults, options override it."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pixelseg.cli import main
from pixelseg.engine.checkpoint import load_checkpoint
from pixelseg.errors import PixelsegError
from pixelseg.inference.predictor import Predictor
from tests.inference.helpers import tiny_checkpoint


@pytest.fixture
def sized_checkpoint(tmp_path):
    path = tiny_checkpoint(tmp_path / "plain.pt")
    checkpoint = load_checkpoint(path)
    checkpoint["inference"] = {"input_size": 64, "refine": "guided"}
    torch.save(checkpoint, tmp_path / "sized.pt")
    return tmp_path / "sized.pt"


class RecordingModel(torch.nn.Module):
    """Wraps a model and remembers the input sizes it was run at."""

    def __init__(self, model):
        super().__init__()
        self.model, self.sizes = model, []

    def forward(self, x):
        self.sizes.append(tuple(x.shape[-2:]))
        return self.model(x)


def test_stored_input_size_and_refinement_are_used_unless_overridden(sized_checkpoint):
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    stored = Predictor.from_checkpoint(sized_checkpoint)
    assert (stored.input_size, stored.refine) == (64, "guided")
    stored.model = RecordingModel(stored.model)
    assert stored.predict(image).shape == (120, 160)
    assert stored.model.sizes == [(48, 64)]   # the longer side at 64, the aspect kept
    own = Predictor.from_checkpoint(sized_checkpoint, input_size=0, refine="none")
    own.model = RecordingModel(own.model)
    own.predict(image)
    assert own.model.sizes == [(120, 160)] and own.refine == "none"
    assert Predictor.from_checkpoint(sized_checkpoint, input_size=96).input_size == 96


def test_evaluate_reports_the_settings_it_ran_with(sized_checkpoint, make_data_folder, tmp_path):
    rng = np.random.default_rng(1)
    pairs = {f"s{i}": (rng.integers(0, 255, (50, 70, 3), dtype=np.uint8), rng.integers(0, 3, (50, 70), dtype=np.uint8)) for i in range(2)}
    data = make_data_folder({"val": pairs}, classes=("background", "person", "sky"))
    for flags, expected in [([], (64, "guided")), (["--input-size", "0", "--refine", "none"], (None, "none"))]:
        out = tmp_path / "scores.json"
        assert main(["evaluate", "--checkpoint", str(sized_checkpoint), "--data", str(data), "--json", str(out), "--quiet", *flags]) == 0
        scores = json.loads(out.read_text())
        assert (scores["evaluation"]["input_size"], scores["evaluation"]["refine"]) == expected
        assert np.array(scores["confusion"]).sum() == 2 * 50 * 70
    banded = tmp_path / "band.json"
    assert main(["evaluate", "--checkpoint", str(sized_checkpoint), "--data", str(data), "--json", str(banded), "--quiet", "--edge-band", "1"]) == 0
    counted = np.array(json.loads(banded.read_text())["confusion"]).sum()
    assert 0 < counted < 2 * 50 * 70  # random masks: nearly every pixel is near an edge, the image border is not


def test_slim_export_halves_the_weights_and_records_the_settings(sized_checkpoint, tmp_path):
    slim = tmp_path / "slim.pt"
    assert main(["export", "--checkpoint", str(sized_checkpoint), "--slim", str(slim), "--input-size", "80"]) == 0
    checkpoint = load_checkpoint(slim)
    assert checkpoint["inference"] == {"input_size": 80, "refine": "guided"}
    assert "optimizer" not in checkpoint
    conv_weights = [v for v in checkpoint["state_dict"].values() if v.ndim >= 2]
    assert conv_weights and all(v.dtype == torch.float16 for v in conv_weights)
    image = np.random.default_rng(2).integers(0, 255, (60, 90, 3), dtype=np.uint8)
    full, half = Predictor.from_checkpoint(sized_checkpoint, input_size=80), Predictor.from_checkpoint(slim)
    assert (full.predict(image) == half.predict(image)).mean() > 0.99  # fp16 rounding of the weights only


def test_unknown_checkpoint_names_the_bundled_models(tmp_path):
    with pytest.raises(PixelsegError, match=r"nosuchmodel: checkpoint not found: neither a file nor a bundled model \(person"):
        Predictor.from_checkpoint("nosuchmodel")
