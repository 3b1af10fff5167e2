"""A tiny train -> evaluate -> predict round trip through the CLI, on generated scenes; and the same
for a binary model (one output map), through evaluate, predict, export and apply."""
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
    assert b["evaluation"] == {"split": "val", "groups": None, "tta": "flip", "tta_scales": [1.0], "window": [32, 32], "input_size": None, "refine": "none",
                               "edge_band": None, "mode": "multiclass", "threshold": None}
    assert np.array(a["confusion"]).sum() == np.array(b["confusion"]).sum() == 4 * 48 * 48  # every pixel counted once
    with Image.open(tmp_path / "confusion.png") as png:
        assert png.format == "PNG"
    scaled = tmp_path / "scales.json"
    assert main(["evaluate", "--checkpoint", str(run_dir / "best.pt"), "--data", str(scenes), "--json", str(scaled), "--quiet",
                 "--tta-scales", "0.75,1,1.25"]) == 0
    c = json.loads(scaled.read_text())
    assert c["evaluation"]["tta_scales"] == [0.75, 1.0, 1.25] and np.array(c["confusion"]).sum() == 4 * 48 * 48
    assert c["confusion"] != a["confusion"]  # the scaled copies changed some answers


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


# ---- a binary model: one output map, end to end ---------------------------------------------------


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    from tests.inference.helpers import square_scenes

    return square_scenes(tmp_path_factory.mktemp("squares"))


@pytest.fixture(scope="module")
def binary_run(squares, tmp_path_factory):
    out = tmp_path_factory.mktemp("binary")
    assert main(["train", "--data", str(squares), "--binary", "--epochs", "4", "--batch-size", "4", "--lr", "0.01", "--out", str(out),
                 "--quiet", "--model-option", "base_channels=4", "--model-option", "depth=2"]) == 0
    return out


def test_binary_evaluate_scores_two_classes_from_the_threshold(binary_run, squares, tmp_path, capsys):
    scores = {}
    for threshold in ("0.5", "0.0"):
        path = tmp_path / f"{threshold}.json"
        assert main(["evaluate", "--checkpoint", str(binary_run / "best.pt"), "--data", str(squares), "--json", str(path), "--quiet",
                     "--threshold", threshold]) == 0
        scores[threshold] = json.loads(path.read_text())
    assert "square" in capsys.readouterr().out
    learned, everything = scores["0.5"], scores["0.0"]
    assert learned["evaluation"]["mode"] == "binary" and learned["evaluation"]["threshold"] == 0.5
    assert np.array(learned["confusion"]).shape == (2, 2)
    assert learned["per_class_iou"]["square"] > 0.5
    # threshold 0: every pixel is the square, the trivial mask the model beats
    confusion = np.array(everything["confusion"])
    assert confusion[:, 0].sum() == 0 and everything["per_class_iou"]["square"] < learned["per_class_iou"]["square"]


def test_binary_predict_writes_the_index_mask_and_the_sigmoid(binary_run, squares, tmp_path):
    from pixelseg.inference.predictor import Predictor

    out = tmp_path / "pred"
    val = squares / "images" / "val"
    assert main(["predict", "--checkpoint", str(binary_run / "best.pt"), str(val), "--out", str(out), "--probabilities", "--quiet"]) == 0
    predictor = Predictor.from_checkpoint(binary_run / "best.pt", "cpu")
    assert predictor.mode == "binary" and predictor.threshold == 0.5
    for image_path in sorted(val.glob("*.png")):
        image = np.array(Image.open(image_path))
        sigmoid = predictor.logits(image)[0].sigmoid().numpy()                         # (H, W): the one map
        with Image.open(out / image_path.name) as mask:
            assert mask.mode == "P" and np.array_equal(np.asarray(mask), (sigmoid > 0.5).astype(np.uint8))
        square = np.asarray(Image.open(out / f"{image_path.stem}_prob_square.png")).astype(int)
        background = np.asarray(Image.open(out / f"{image_path.stem}_prob_background.png")).astype(int)
        assert np.abs(square - sigmoid * 255).max() <= 1 and np.abs(square + background - 255).max() <= 1
    # a higher threshold keeps fewer pixels, never more
    assert main(["predict", "--checkpoint", str(binary_run / "best.pt"), str(val), "--out", str(tmp_path / "strict"), "--threshold", "0.9",
                 "--quiet"]) == 0
    for image_path in sorted(val.glob("*.png")):
        strict, plain = (np.asarray(Image.open(folder / image_path.name)) for folder in (tmp_path / "strict", out))
        assert (strict <= plain).all()


def test_binary_export_matches_pytorch_and_runs_alone(binary_run, squares, tmp_path, capsys):
    from pixelseg.inference.onnx_predictor import OnnxPredictor
    from pixelseg.inference.predictor import Predictor

    onnx_path = tmp_path / "m.onnx"
    assert main(["export", "--checkpoint", str(binary_run / "best.pt"), "--onnx", str(onnx_path)]) == 0
    assert "check passed" in capsys.readouterr().out
    torch_predictor = Predictor.from_checkpoint(binary_run / "best.pt", "cpu", flip=True, window=(32, 32))
    onnx_predictor = OnnxPredictor.from_onnx(onnx_path, flip=True, window=(32, 32), threshold=0.4)
    assert onnx_predictor.mode == "binary" and onnx_predictor.classes == ["background", "square"]
    for image_path in sorted((squares / "images" / "val").glob("*.png")):
        image = np.array(Image.open(image_path))
        ours, theirs = torch_predictor.logits(image), onnx_predictor.logits(image)
        assert ours.shape == theirs.shape == (1, *image.shape[:2])
        assert float((ours - theirs).abs().max()) < 1e-3
        assert np.array_equal(onnx_predictor.predict(image), (ours[0].sigmoid() > 0.4).numpy().astype(np.uint8))
    assert main(["evaluate", "--checkpoint", str(onnx_path), "--data", str(squares), "--quiet"]) == 0


def test_binary_apply_takes_the_sigmoid_as_the_matte(binary_run, squares, tmp_path, capsys):
    from pixelseg.inference.predictor import Predictor

    image_path = sorted((squares / "images" / "val").glob("*.png"))[0]
    out = tmp_path / "cut.png"
    assert main(["apply", "cutout", str(image_path), "--out", str(out), "--checkpoint", str(binary_run / "best.pt"), "--solid", "0",
                 "--feather", "0", "--quiet"]) == 0
    assert "target class 1 = 'square'" in capsys.readouterr().out
    image = np.array(Image.open(image_path))
    sigmoid = Predictor.from_checkpoint(binary_run / "best.pt", "cpu").logits(image)[0].sigmoid().numpy()
    alpha = np.asarray(Image.open(out))[..., 3].astype(int)
    assert np.abs(alpha - sigmoid * 255).max() <= 1                                     # alpha = σ, as 8 bits


def test_threshold_is_refused_for_a_multiclass_model(run_dir, scenes, tmp_path, capsys):
    assert main(["predict", "--checkpoint", str(run_dir / "best.pt"), str(scenes / "images" / "val"), "--out", str(tmp_path / "p"),
                 "--threshold", "0.3", "--quiet"]) == 2
    assert "--threshold 0.3: this model is multiclass (5 classes" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
