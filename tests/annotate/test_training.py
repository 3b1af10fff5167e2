"""A folder labelled through `pixelseg annotate`'s API is a data set: `pixelseg data check` finds it
clean, and `pixelseg train` runs on it as it is."""
from __future__ import annotations

import gzip

import pytest
from fastapi.testclient import TestClient

from pixelseg.annotate import AnnotationStore, create_app
from pixelseg.cli import main
from tests.annotate import CLASSES, photo_folder, scene


@pytest.mark.slow
def test_train_and_data_check_run_on_a_folder_labelled_here(tmp_path, capsys):
    folder = tmp_path / "data"
    photo_folder(folder, count=3, split="train")
    (folder / "images" / "val").mkdir()
    (folder / "images" / "train" / "img2.png").rename(folder / "images" / "val" / "img2.png")
    store = AnnotationStore(folder, classes=",".join(CLASSES))
    with TestClient(create_app(store), base_url="http://127.0.0.1") as client:
        for image in client.get("/api/images").json()["images"]:
            number = int(image["id"][-1])
            _, mask = scene(20 + number, 48, 64)  # photo_folder's scenes, with their painted masks
            mask[:2, :2] = 255                    # and a few ignored pixels
            response = client.put(f"/api/images/{image['id']}/mask", params={"version": ""}, content=gzip.compress(mask.tobytes()),
                                  headers={"Content-Type": "application/octet-stream"})
            assert response.status_code == 200, response.text
    capsys.readouterr()
    assert main(["data", "check", str(folder), "--out", str(tmp_path / "chart.png")]) == 0
    assert "0 errors, 0 warnings" in capsys.readouterr().out
    run = tmp_path / "run"
    assert main(["train", "--data", str(folder), "--out", str(run), "--epochs", "1", "--batch-size", "2", "--quiet", "--device", "cpu",
                 "--model-option", "base_channels=4", "--model-option", "depth=2"]) == 0
    assert (run / "best.pt").is_file()


@pytest.mark.slow
def test_train_runs_on_a_plain_folder_of_photos_labelled_here(tmp_path):
    folder = tmp_path / "photos"
    photo_folder(folder, count=3, split=None)
    store = AnnotationStore(folder, classes=",".join(CLASSES))
    for entry in store.entries():
        store.save(entry, scene(20 + int(entry.stem[-1]), 48, 64)[1], "")
    assert {e.split for e in store.entries()} == {"train", "val"}
    assert main(["train", "--data", str(folder), "--out", str(tmp_path / "run"), "--epochs", "1", "--quiet", "--device", "cpu",
                 "--model-option", "base_channels=4", "--model-option", "depth=2"]) == 0
