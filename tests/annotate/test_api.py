"""The HTTP API of `pixelseg annotate`: the folder format written, versions, every refusal, kill -9 mid-save."""
from __future__ import annotations

import concurrent.futures
import gzip
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pixelseg.annotate import AnnotationStore, create_app
from pixelseg.cli import main
from pixelseg.data.folder import load_mask, read_classes
from pixelseg.errors import PixelsegError
from pixelseg.inference.predictor import Predictor
from pixelseg.serve import LOOPBACK_NAMES
from tests.annotate import CLASSES, photo_folder, write_checkpoint
from tests.serve import running_server, torch_threads

H, W = 48, 64


def png(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def put(client, image_id, mask, version, raw=False):
    if raw:
        return client.put(f"/api/images/{image_id}/mask", params={"version": version}, content=gzip.compress(mask.tobytes()),
                          headers={"Content-Type": "application/octet-stream"})
    return client.put(f"/api/images/{image_id}/mask", params={"version": version}, content=png(mask), headers={"Content-Type": "image/png"})


def shapes(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros((H, W), np.uint8)
    mask[rng.integers(0, 20):rng.integers(25, 48), rng.integers(0, 30):rng.integers(35, 64)] = 1
    mask[:3, :5] = 255
    return mask


@pytest.fixture
def folder(tmp_path):
    photo_folder(tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def client(folder):
    store = AnnotationStore(folder, classes=CLASSES)
    with TestClient(create_app(store, allowed_hosts=LOOPBACK_NAMES), base_url="http://127.0.0.1") as test_client:
        yield test_client


def test_save_writes_the_folder_format_and_versions_guard_it(client, folder):
    listing = client.get("/api/images").json()
    assert [i["id"] for i in listing["images"]] == ["train/img0", "train/img1", "train/img2"]
    assert (listing["labelled"], listing["total"]) == (0, 3)
    assert [c["name"] for c in listing["classes"]] == CLASSES and listing["classes"][1]["color"] == "#800000"
    assert read_classes(folder) == CLASSES
    assert client.get("/api/images/train/img0/mask").status_code == 404
    info = client.get("/api/images/train/img0").json()
    assert (info["width"], info["height"], info["version"]) == (W, H, "")

    mask = shapes(1)
    saved = put(client, "train/img0", mask, "")
    assert saved.status_code == 200, saved.text
    version = saved.json()["version"]
    assert saved.json()["labelled"] == 1
    on_disk = folder / "masks" / "train" / "img0.png"
    assert Image.open(on_disk).mode == "P"
    assert np.array_equal(load_mask(on_disk, len(CLASSES), size=(H, W)), mask)
    got = client.get("/api/images/train/img0/mask", params={"format": "raw"})
    assert got.headers["x-mask-version"] == version
    assert np.array_equal(np.frombuffer(got.content, np.uint8).reshape(H, W), mask)

    # A second change from the same version (another tab): 409, the first one kept.
    stale = put(client, "train/img0", shapes(2), "", raw=True)
    assert stale.status_code == 409 and stale.json()["version"] == version and "another tab" in stale.json()["detail"]
    assert np.array_equal(load_mask(on_disk), mask)
    newer = put(client, "train/img0", shapes(2), version, raw=True)
    assert newer.status_code == 200 and newer.json()["version"] != version
    assert np.array_equal(load_mask(on_disk), shapes(2))
    assert put(client, "train/img0", shapes(3), version).status_code == 409
    assert not [p for p in on_disk.parent.iterdir() if p.name.startswith(".")], "temporaries left behind"


def test_refusals(client, folder):
    # Path traversal, in every spelling: never a file outside the listing.
    (folder.parent / "secret.png").write_bytes(png(np.zeros((H, W), np.uint8)))
    for bad in ["../secret", "train/../../secret", "train/..%2F..%2Fsecret", "%2e%2e/%2e%2e/secret", "/etc/passwd", "train\\..\\x",
                "train/img0/../../../secret"]:
        for suffix in ("/image", "/mask", ""):
            response = client.get(f"/api/images/{bad}{suffix}")
            assert response.status_code == 404, (bad, suffix, response.status_code)
    assert put(client, "../secret", shapes(1), "").status_code == 404
    # Saves: a mask of the wrong size, values outside the classes, a bad body, no version, a type a web page could forge.
    assert "64×48" in put(client, "train/img0", np.zeros((10, 10), np.uint8), "").json()["detail"]
    bad_values = shapes(1)
    bad_values[5, 5] = 7
    assert put(client, "train/img0", bad_values, "").status_code == 422
    assert client.put("/api/images/train/img0/mask", params={"version": ""}, content=b"\x1f\x8b garbage",
                      headers={"Content-Type": "application/octet-stream"}).status_code == 400
    assert client.put("/api/images/train/img0/mask", content=png(shapes(1)), headers={"Content-Type": "image/png"}).status_code == 428
    assert client.put("/api/images/train/img0/mask", params={"version": ""}, content=shapes(1).tobytes(),
                      headers={"Content-Type": "text/plain"}).status_code == 415
    assert not (folder / "masks" / "train" / "img0.png").exists()
    # A gzip bomb is cut off at the image's size.
    assert client.put("/api/images/train/img0/mask", params={"version": ""}, content=gzip.compress(bytes(50_000_000)),
                      headers={"Content-Type": "application/octet-stream"}).status_code == 400
    # Another Host (DNS rebinding): refused.
    assert client.get("/api/images", headers={"Host": "evil.example"}).status_code == 400


def test_a_non_image_a_corrupt_image_a_huge_one_and_a_bad_mask_are_reported(folder):
    split = folder / "images" / "train"
    (split / "notes.txt").write_text("not a picture")
    (split / "fake.jpg").write_text("not a picture either")
    good = (split / "img0.png").read_bytes()
    (split / "cut.png").write_bytes(good[: len(good) // 2])
    Image.new("L", (3000, 3000)).save(split / "huge.png")
    (folder / "masks" / "train").mkdir(parents=True)
    broken = np.zeros((H, W), np.uint8)
    broken[10, 10] = 9
    Image.fromarray(broken).save(folder / "masks" / "train" / "img1.png")
    before = (folder / "masks" / "train" / "img1.png").read_bytes()
    store = AnnotationStore(folder, classes=CLASSES, max_pixels=1_000_000)
    with TestClient(create_app(store), base_url="http://127.0.0.1") as client:
        ids = [i["id"] for i in client.get("/api/images").json()["images"]]
        assert "train/notes" not in ids and "train/fake" in ids
        fake = client.get("/api/images/train/fake/image")
        assert fake.status_code == 422 and "not a readable image" in fake.json()["detail"]
        assert "not a readable image" in client.get("/api/images/train/fake").json()["error"]
        cut = client.get("/api/images/train/cut/suggestion")  # no model: 404 first
        assert cut.status_code == 404
        huge = client.get("/api/images/train/huge/image")
        assert huge.status_code == 413 and "3000×3000" in huge.json()["detail"]
        bad = client.get("/api/images/train/img1/mask")
        assert bad.status_code == 422 and "[9]" in bad.json()["detail"] and "left as it is" in bad.json()["detail"]
        assert "[9]" in client.get("/api/images/train/img1").json()["error"]
        version = bad.headers.get("x-mask-version") or __import__("pixelseg.annotate.store", fromlist=["version_of"]).version_of(
            folder / "masks" / "train" / "img1.png")
        assert put(client, "train/img1", shapes(1), version).status_code == 422  # not destroyed, even with its version
        assert put(client, "train/img1", shapes(1), "").status_code == 409
    assert (folder / "masks" / "train" / "img1.png").read_bytes() == before
    # The truncated PNG: a clear line when decoded (its header is fine).
    with pytest.raises(PixelsegError, match="corrupt or truncated"):
        store.load_image(store.entry("train/cut"))


def test_a_plain_folder_of_photos_becomes_the_folder_format(tmp_path):
    photo_folder(tmp_path / "photos", split=None)
    store = AnnotationStore(tmp_path / "photos", classes="background,person,thing")
    assert store.converted == 3 and [e.id for e in store.entries()] == ["train/img0", "train/img1", "val/img2"]
    assert (tmp_path / "photos" / "img0.png").is_file() and (tmp_path / "photos" / "images" / "train" / "img0.png").is_file()
    assert os.stat(tmp_path / "photos" / "img0.png").st_ino == os.stat(tmp_path / "photos" / "images" / "train" / "img0.png").st_ino
    assert AnnotationStore(tmp_path / "photos").converted == 0  # classes.txt now, and nothing to link again
    photo_folder(tmp_path / "photos", count=6, split=None)  # img3..img5 are new: linked at the next start, img4 to val
    assert AnnotationStore(tmp_path / "photos").converted == 3
    assert [e.id for e in AnnotationStore(tmp_path / "photos").entries()] == [
        "train/img0", "train/img1", "train/img3", "train/img5", "val/img2", "val/img4"]
    # A data set of the folder format with a stray photo beside it: the photo is not taken in.
    photo_folder(tmp_path / "dataset", count=1)
    photo_folder(tmp_path / "dataset", count=1, split=None)
    assert AnnotationStore(tmp_path / "dataset", classes=CLASSES).converted == 0
    assert not (tmp_path / "dataset" / "images" / "val").exists()
    with pytest.raises(PixelsegError, match="--classes names"):
        AnnotationStore(tmp_path / "photos", classes="background,cat")
    with pytest.raises(PixelsegError, match="--classes"):
        photo_folder(tmp_path / "other", split=None)
        AnnotationStore(tmp_path / "other")


def test_concurrent_saves_of_different_images(folder):
    store = AnnotationStore(folder, classes=CLASSES)
    photo_folder(folder, count=8)
    store.scan()
    with running_server(create_app(store)) as url, httpx.Client(base_url=url) as client:
        ids = [i["id"] for i in client.get("/api/images").json()["images"]]

        def label(index_and_id):
            index, image_id = index_and_id
            version = ""
            for step in range(4):
                response = put(client, image_id, shapes(10 * index + step), version)
                assert response.status_code == 200, response.text
                version = response.json()["version"]
            return image_id

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(label, enumerate(ids)))
        assert client.get("/api/images").json()["labelled"] == len(ids)
    for index, image_id in enumerate(ids):
        assert np.array_equal(load_mask(folder / "masks" / f"{image_id}.png"), shapes(10 * index + 3))


def test_suggestion_is_exactly_what_predict_writes(folder, tmp_path):
    with torch_threads(1):
        checkpoint = write_checkpoint(tmp_path / "colour.pt")
        store = AnnotationStore(folder, classes=CLASSES)
        with TestClient(create_app(store, Predictor.from_checkpoint(checkpoint, "cpu")), base_url="http://127.0.0.1") as client:
            assert client.get("/api/images").json()["assist"] is True
            suggested = client.get("/api/images/train/img1/suggestion", params={"format": "raw"})
            png_suggested = np.array(Image.open(io.BytesIO(client.get("/api/images/train/img1/suggestion").content)))
        assert main(["predict", str(folder / "images" / "train" / "img1.png"), "--out", str(tmp_path / "out"),
                     "--checkpoint", str(checkpoint), "--quiet", "--device", "cpu"]) == 0
    predicted = load_mask(tmp_path / "out" / "img1.png")
    assert len(np.unique(predicted)) > 1
    assert np.array_equal(np.frombuffer(suggested.content, np.uint8).reshape(H, W), predicted)
    assert np.array_equal(png_suggested, predicted)


def test_superpixels_cover_the_image(client):
    response = client.get("/api/images/train/img0/superpixels")
    assert response.status_code == 200
    rgb = np.array(Image.open(io.BytesIO(response.content)))
    labels = rgb[..., 0].astype(int) + 256 * rgb[..., 1].astype(int)
    assert labels.shape == (H, W) and 10 < len(np.unique(labels)) <= 1000


@pytest.mark.slow
def test_kill_9_during_saves_leaves_a_mask_that_loads(folder):
    """A real `pixelseg annotate` process, saving two masks in turn as fast as it can, killed with SIGKILL."""
    AnnotationStore(folder, classes=CLASSES)
    masks = [shapes(1), shapes(2)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "pixelseg", "annotate", str(folder), "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if "open http" in line:
                url = line.split("open ")[1].split("/ ")[0].strip()
        assert url, "the server did not start"
        saves = 0

        def save_in_a_loop():  # until the server is gone
            nonlocal saves
            version = ""
            with httpx.Client(base_url=url, timeout=10) as client:
                try:
                    while True:
                        response = put(client, "train/img0", masks[saves % 2], version)
                        assert response.status_code == 200, response.text
                        version = response.json()["version"]
                        saves += 1
                except httpx.TransportError:
                    return

        saver = threading.Thread(target=save_in_a_loop)
        saver.start()
        deadline = time.monotonic() + 30
        while saves < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.137)  # at some moment of a save, not between two
        os.kill(process.pid, signal.SIGKILL)
        saver.join(timeout=20)
        assert saves >= 20
    finally:
        process.kill()
        process.wait(timeout=10)
    mask = load_mask(folder / "masks" / "train" / "img0.png", len(CLASSES), size=(H, W))
    assert any(np.array_equal(mask, m) for m in masks)
    store = AnnotationStore(folder)  # a restart clears what the kill left behind
    assert not [p for p in (folder / "masks" / "train").iterdir() if p.name.startswith(".")]
    assert np.array_equal(store.load(store.entry("train/img0"))[0], mask)


def test_without_scikit_image_snap_is_off_and_says_how_to_get_it(folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage.segmentation", None)  # `import skimage.segmentation` raises ImportError
    with TestClient(create_app(AnnotationStore(folder, classes=CLASSES)), base_url="http://127.0.0.1") as client:
        assert client.get("/api/images").json()["snap"] is False
        response = client.get("/api/images/train/img0/superpixels")
        assert response.status_code == 501 and "pip install scikit-image" in response.json()["detail"]
