"""int8 export: a tiny trained checkpoint quantized on pictures, run like any export."""
import numpy as np
import pytest
from PIL import Image

from pixelseg.cli import main
from pixelseg.inference.onnx import read_metadata
from pixelseg.inference.onnx_predictor import OnnxPredictor
from pixelseg.inference.predictor import Predictor
from tests.inference.helpers import tiny_checkpoint, write_video


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibration")
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    return folder


def test_int8_export_keeps_the_metadata_and_mostly_the_classes(pictures, tmp_path, capsys):
    checkpoint = tiny_checkpoint(tmp_path / "m.pt")
    out = tmp_path / "m.int8.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--onnx", str(out), "--int8", "--calibrate", str(pictures), "--input-size", "40"]) == 0
    printed = capsys.readouterr().out
    assert "int8: calibrated on 4 pictures at a long side of 40" in printed and "the same class as the float model on" in printed
    share = float(printed.split("the same class as the float model on ")[1].split("%")[0]) / 100
    assert share > 0.9
    meta = read_metadata(out)
    assert meta["inference"]["input_size"] == 40
    int8, torch_model = OnnxPredictor.from_onnx(out), Predictor.from_checkpoint(checkpoint, "cpu", input_size=40)
    image = np.array(Image.open(next(pictures.iterdir())).convert("RGB"))
    assert int8.input_size == 40 and int8.predict(image).shape == image.shape[:2]
    assert (int8.predict(image) == torch_model.predict(image)).mean() > 0.9
    assert not list(tmp_path.glob(".*tmp*"))  # nothing left beside the output


def test_video_frames_calibrate_too(tmp_path, capsys):
    checkpoint = tiny_checkpoint(tmp_path / "m.pt")
    clip = write_video(tmp_path / "clip.mp4", frames=12)
    assert main(["export", "--checkpoint", str(checkpoint), "--onnx", str(tmp_path / "v.onnx"), "--int8", "--calibrate", str(clip),
                 "--calibration-count", "3"]) == 0
    assert "int8: calibrated on 3 pictures at their own size" in capsys.readouterr().out
