"""A tiny train -> evaluate -> predict round trip through the CLI, on generated scenes."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from pixelseg.cli import main
from pixelseg.data.synthetic import generate_dataset


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("scenes"), train=8, val=4, size=48, progress=False)


@pytest.fixture(scope="module")
def run_dir(scenes, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "--data", str(scenes), "--epochs", "2", "--batch-size", "4", "--out", str(out), "--quiet",
                 "--model-option", "base_channels=4", "--model-option", "depth=2"])
    assert code == 0
    return out


def test_train_writes_checkpoints_metrics_and_curves(run_dir):
    for name in ("best.pt", "last.pt", "metrics.csv", "curves.png"):
        assert (run_dir / name).is_file(), name
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(0.0 <= float(r["val_miou"]) <= 1.0 for r in rows)


def test_evaluate_prints_table_and_writes_json(run_dir, scenes, tmp_path, capsys):
    out_json = tmp_path / "scores.json"
    assert main(["evaluate", "--checkpoint", str(run_dir / "best.pt"), "--data", str(scenes), "--split", "val", "--json", str(out_json), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "mIoU" in printed and "pixel accuracy" in printed and "triangle" in printed
    scores = json.loads(out_json.read_text())
    assert set(scores) == {"miou", "pixel_accuracy", "per_class_iou"}
    assert list(scores["per_class_iou"]) == ["background", "disc", "square", "triangle", "bar"]
    present = [v for v in scores["per_class_iou"].values() if v is not None]
    assert all(0.0 <= v <= 1.0 for v in present)
    assert scores["miou"] == pytest.approx(sum(present) / len(present))


def test_predict_writes_palette_mask_at_original_size_and_overlay(run_dir, tmp_path):
    image_path = tmp_path / "odd.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (37, 61, 3), dtype=np.uint8)).save(image_path)
    out = tmp_path / "pred"
    assert main(["predict", "--checkpoint", str(run_dir / "best.pt"), str(image_path), "--out", str(out), "--quiet"]) == 0
    with Image.open(out / "odd.png") as mask:
        assert mask.mode == "P" and mask.size == (61, 37)
        assert np.asarray(mask).max() < 5
    with Image.open(out / "odd_overlay.jpg") as overlay:
        assert overlay.size == (61, 37)
