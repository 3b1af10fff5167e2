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
    for words in ("mIoU", "mean Dice/F1", "mean class accuracy", "pixel accuracy", "triangle"):
        assert words in printed
    scores = json.loads(out_json.read_text())
    assert {"miou", "pixel_accuracy", "mean_class_accuracy", "mean_dice", "per_class_iou", "per_class_dice", "per_class_accuracy",
            "confusion"} <= set(scores)
    assert list(scores["per_class_iou"]) == ["background", "disc", "square", "triangle", "bar"]
    present = [v for v in scores["per_class_iou"].values() if v is not None]
    assert all(0.0 <= v <= 1.0 for v in present)
    assert scores["miou"] == pytest.approx(sum(present) / len(present))  # macro: a plain mean over classes
    confusion = np.array(scores["confusion"])
    assert confusion.shape == (5, 5) and scores["pixel_accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())  # micro


def test_evaluate_with_flip_tta_sliding_window_and_confusion_png(run_dir, scenes, tmp_path, capsys):
    plain, tta = tmp_path / "plain.json", tmp_path / "tta.json"
    assert main(["evaluate", "--checkpoint", str(run_dir / "best.pt"), "--data", str(scenes), "--json", str(plain), "--quiet"]) == 0
    assert main(["evaluate", "--checkpoint", str(run_dir / "best.pt"), "--data", str(scenes), "--json", str(tta), "--quiet",
                 "--tta", "flip", "--window", "32x32", "--confusion", str(tmp_path / "confusion.png")]) == 0
    a, b = json.loads(plain.read_text()), json.loads(tta.read_text())
    assert b["evaluation"] == {"split": "val", "groups": None, "tta": "flip", "window": [32, 32], "input_size": None, "refine": "none", "edge_band": None}
    assert np.array(a["confusion"]).sum() == np.array(b["confusion"]).sum() == 4 * 48 * 48  # every pixel counted once
    with Image.open(tmp_path / "confusion.png") as png:
        assert png.format == "PNG"


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
