"""Train -> evaluate -> predict on real CamVid files (a handful of them, symlinked; 1 epoch)."""
import json

import pytest
from PIL import Image

from pixelseg.cli import main

pytestmark = [pytest.mark.shared, pytest.mark.slow]


@pytest.fixture(scope="module")
def camvid_subset(shared_datasets, tmp_path_factory):
    camvid = shared_datasets / "camvid"
    root = tmp_path_factory.mktemp("camvid_subset")
    (root / "classes.txt").symlink_to(camvid / "classes.txt")
    for split, count in (("train", 4), ("val", 2)):
        for kind in ("images", "masks"):
            (root / kind / split).mkdir(parents=True)
        for image in sorted((camvid / "images" / split).iterdir())[:count]:
            (root / "images" / split / image.name).symlink_to(image)
            (root / "masks" / split / f"{image.stem}.png").symlink_to(camvid / "masks" / split / f"{image.stem}.png")
    return root


def test_camvid_train_evaluate_predict(camvid_subset, shared_datasets, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--data", str(camvid_subset), "--epochs", "1", "--batch-size", "2", "--crop-size", "128",
                 "--out", str(run), "--quiet", "--precision", "bf16", "--model-option", "base_channels=8"]) == 0
    scores_path = tmp_path / "scores.json"
    assert main(["evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(camvid_subset), "--split", "val",
                 "--json", str(scores_path), "--quiet"]) == 0
    scores = json.loads(scores_path.read_text())
    assert len(scores["per_class_iou"]) == 11 and 0.0 <= scores["miou"] <= 1.0
    image = sorted((shared_datasets / "camvid" / "images" / "val").iterdir())[0]
    assert main(["predict", "--checkpoint", str(run / "best.pt"), str(image), "--out", str(tmp_path / "pred"), "--quiet"]) == 0
    with Image.open(tmp_path / "pred" / f"{image.stem}.png") as mask:
        assert mask.size == (480, 360)
