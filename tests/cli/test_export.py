"""`pixelseg export`: the check's numbers printed, an .onnx that runs on its own at any size."""
import re

import numpy as np
import pytest

from pixelseg.cli import main
from pixelseg.inference.onnx_predictor import OnnxPredictor
from tests.inference.helpers import CLASSES, tiny_checkpoint


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    checkpoint = tiny_checkpoint(folder / "m.pt")
    return checkpoint, folder / "m.onnx"


def test_export_prints_the_check_and_the_file_runs_alone(exported, capsys):
    checkpoint, onnx_path = exported
    assert main(["export", "--checkpoint", str(checkpoint), "--onnx", str(onnx_path)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {onnx_path}" in printed and "check passed" in printed
    difference = float(re.search(r"max \|Δlogit\| ([0-9.e+-]+)", printed).group(1))
    agreement = float(re.search(r"same argmax on ([0-9.]+)%", printed).group(1))
    assert difference <= 1e-3 and agreement >= 99.9
    checkpoint.unlink()  # from here on only the .onnx file exists
    predictor = OnnxPredictor.from_onnx(onnx_path)
    assert predictor.classes == CLASSES
    for shape in [(97, 131), (256, 256), (40, 33)]:
        assert predictor.predict(np.zeros((*shape, 3), np.uint8)).shape == shape


def test_export_errors(tmp_path, capsys):
    assert main(["export", "--checkpoint", str(tmp_path / "none.pt"), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert "none.pt: checkpoint not found" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(tmp_path / "none.pt"), "--onnx", str(tmp_path / "m.bin")]) == 2
    assert "must end in .onnx" in capsys.readouterr().err
