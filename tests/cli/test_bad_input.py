"""Bad input stops with one clear message naming the file and the problem, and writes nothing."""
import shutil

import numpy as np
import pytest
from PIL import Image

from pixelseg.cli import main
from pixelseg.data.synthetic import generate_dataset


@pytest.fixture
def scenes(tmp_path):
    return generate_dataset(tmp_path / "data", train=4, val=2, size=40, progress=False)


def train_fails(data, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", str(data), "--epochs", "1", "--out", str(out), "--quiet", "--model-option", "base_channels=4", "--model-option", "depth=2"])
    assert code == 2
    assert not (out / "last.pt").exists() and not (out / "best.pt").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_missing_data_folder(tmp_path, capsys):
    message = train_fails(tmp_path / "nowhere", tmp_path, capsys)
    assert "nowhere" in message and "not found" in message


def test_image_without_mask(scenes, tmp_path, capsys):
    (scenes / "masks" / "train" / "00002.png").unlink()
    message = train_fails(scenes, tmp_path, capsys)
    assert "00002" in message and "no mask" in message


def test_mask_size_differs_from_image(scenes, tmp_path, capsys):
    Image.fromarray(np.zeros((30, 40), dtype=np.uint8)).save(scenes / "masks" / "val" / "00001.png")
    message = train_fails(scenes, tmp_path, capsys)
    assert "masks/val/00001.png" in message and "40×30" in message and "40×40" in message


def test_mask_value_beyond_the_classes(scenes, tmp_path, capsys):
    mask = np.zeros((40, 40), dtype=np.uint8)
    mask[3, 3] = 7
    Image.fromarray(mask).save(scenes / "masks" / "train" / "00000.png")
    message = train_fails(scenes, tmp_path, capsys)
    assert "masks/train/00000.png" in message and "[7]" in message


def test_unreadable_image(scenes, tmp_path, capsys):
    (scenes / "images" / "train" / "00003.png").write_bytes(b"this is not a png")
    message = train_fails(scenes, tmp_path, capsys)
    assert "images/train/00003.png" in message and "unreadable" in message


def test_empty_split(scenes, tmp_path, capsys):
    shutil.rmtree(scenes / "images" / "val")
    (scenes / "images" / "val").mkdir()
    message = train_fails(scenes, tmp_path, capsys)
    assert "no images" in message


def test_predict_with_missing_checkpoint(tmp_path, capsys):
    assert main(["predict", "--checkpoint", str(tmp_path / "x.pt"), "a.jpg", "--out", str(tmp_path / "o")]) == 2
    assert "x.pt" in capsys.readouterr().err
