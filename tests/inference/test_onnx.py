"""ONNX export: dynamic batch/height/width, the check against PyTorch, self-contained metadata."""
import shutil

import numpy as np
import pytest
import torch

from pixelseg.errors import PixelsegError
from pixelseg.inference import onnx as onnx_export
from pixelseg.inference.onnx import check_onnx, export_onnx, read_metadata
from pixelseg.inference.onnx_predictor import OnnxPredictor
from pixelseg.inference.predictor import Predictor
from tests.inference.helpers import CLASSES, MEAN, STD, exported_onnx, tiny_checkpoint


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    checkpoint = tiny_checkpoint(tmp_path_factory.mktemp("onnx") / "m.pt")
    return checkpoint, exported_onnx(checkpoint)


def test_metadata_makes_the_file_self_contained(files):
    _, onnx_path = files
    meta = read_metadata(onnx_path)
    assert meta["classes"] == CLASSES and tuple(meta["mean"]) == MEAN and tuple(meta["std"]) == STD
    assert meta["model"]["name"] == "unet"


def test_dynamic_sizes_match_pytorch_including_ones_that_need_padding(files):
    checkpoint, onnx_path = files
    model = Predictor.from_checkpoint(checkpoint, device="cpu").model.float()
    check = check_onnx(model, onnx_path, MEAN, STD, shapes=[(1, 97, 131), (2, 256, 256), (3, 32, 45)])
    assert check.passed, check.summary()
    assert check.max_abs_diff < 1e-3 and check.argmax_agreement >= 0.999


def test_onnx_predictor_agrees_with_torch(files):
    checkpoint, onnx_path = files
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(97, 131, 3), (32, 45, 3), (64, 64, 3)]]
    torch_predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    onnx_predictor = OnnxPredictor.from_onnx(onnx_path)
    assert onnx_predictor.classes == CLASSES
    for image in images:
        agreement = (onnx_predictor.predict(image) == torch_predictor.predict(image)).mean()
        assert agreement >= 0.999
        assert torch.allclose(onnx_predictor.logits(image), torch_predictor.logits(image), atol=1e-3)
    # Below the graph's 32-pixel minimum the image is padded outside the graph and cropped back.
    assert onnx_predictor.predict(images[0][:20, :25]).shape == (20, 25)


def test_a_failed_check_leaves_no_file(files, tmp_path, monkeypatch):
    checkpoint, onnx_path = files
    monkeypatch.setattr(onnx_export, "_export_graph", lambda model, path, opset: shutil.copyfile(onnx_path, path))  # skip the slow part
    monkeypatch.setattr(onnx_export, "LOGIT_TOLERANCE", -1.0)  # nothing can pass
    with pytest.raises(PixelsegError, match="does not match PyTorch, not written"):
        export_onnx(checkpoint, tmp_path / "bad.onnx")
    assert list(tmp_path.iterdir()) == []


def test_not_a_pixelseg_onnx_file(tmp_path):
    (tmp_path / "x.onnx").write_bytes(b"garbage")
    with pytest.raises(PixelsegError, match=r"x\.onnx: not a readable ONNX model"):
        OnnxPredictor.from_onnx(tmp_path / "x.onnx")
