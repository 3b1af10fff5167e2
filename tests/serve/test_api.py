"""The HTTP API of `pixelseg serve`: answers checked pixel for pixel, every error case, 50 concurrent requests."""
from __future__ import annotations

import concurrent.futures
import io
import os
import signal
import struct
import subprocess
import sys
import zlib

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pixelseg.apply import EFFECTS, Effect, Matte, apply_image, encode
from pixelseg.cli import build_parser, main
from pixelseg.errors import PixelsegError
from pixelseg.inference.predictor import Predictor
from pixelseg.serve import LOOPBACK_NAMES, create_app, listen
from pixelseg.viz.palette import overlay
from tests.serve import CLASSES, expected_mask, running_server, scene, torch_threads, write_checkpoint

MAX_BYTES = 200_000      # per request body
MAX_PIXELS = 300 * 300


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def decode(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.array(Image.open(io.BytesIO(response.content)))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width×height but holds almost nothing: a decompression bomb's shape."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("serve") / "colour.pt")


@pytest.fixture(scope="module")
def predictor(checkpoint):
    with torch_threads(1):  # a tiny model: one thread is fastest on a shared machine
        yield Predictor.from_checkpoint(checkpoint, "cpu")


@pytest.fixture(scope="module")
def app(predictor):
    return create_app(predictor, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture(scope="module")
def photo():
    image, mask = scene(16)
    assert set(np.unique(mask)) == {0, 1, 2}
    return image, mask


def test_the_crafted_model_gives_the_painted_mask(predictor, photo):
    image, mask = photo
    assert np.array_equal(expected_mask(image), mask)
    assert np.array_equal(predictor.predict(image), mask)


def test_model_describes_classes_colours_and_limits(client):
    info = client.get("/api/model").json()
    assert info["name"] == "unet"
    assert [c["name"] for c in info["classes"]] == CLASSES
    assert [c["color"] for c in info["classes"]] == ["#000000", "#800000", "#008000"]  # the VOC palette of masks and overlays
    assert info["input"]["size"] is None and info["input"]["channels"] == 3 and "PNG" in info["input"]["formats"]
    assert info["limits"] == {"max_bytes": MAX_BYTES, "max_pixels": MAX_PIXELS}
    assert list(info["effects"]) == list(EFFECTS) == ["replace", "blur", "retain-color", "cutout"]
    assert info["effects"]["retain-color"]["label"] == "Retain colour"


def test_a_binary_model_segments_by_its_threshold_and_mattes_by_its_sigmoid(photo, tmp_path):
    """The crafted model's person row alone, as one output map z = 4·R − 2.6: person where σ(z) > 0.5."""
    import pixelseg
    from pixelseg.engine.checkpoint import atomic_save, checkpoint_payload
    from tests.serve import colour_unet

    state = colour_unet().state_dict()
    state["head.weight"], state["head.bias"] = state["head.weight"][1:2], state["head.bias"][1:2]
    binary = pixelseg.create_model("unet", 1, base_channels=4, depth=2)
    binary.load_state_dict(state)
    path = atomic_save(checkpoint_payload(binary, CLASSES[:2], (0.0,) * 3, (1.0,) * 3), tmp_path / "binary.pt")
    image, mask = photo
    with torch_threads(1), TestClient(create_app(Predictor.from_checkpoint(path, "cpu")), base_url="http://127.0.0.1") as http:
        info = http.get("/api/model").json()
        assert (info["mode"], info["threshold"], [c["name"] for c in info["classes"]]) == ("binary", 0.5, ["background", "person"])
        segmented = http.post("/api/segment", files={"image": ("scene.png", png(image), "image/png")})
        assert np.array_equal(decode(segmented), (mask == 1).astype(np.uint8))
        cut = http.post("/api/apply", data={"effect": "cutout", "solid": "0", "feather": "0"}, files={"image": ("scene.png", png(image))})
        alpha = decode(cut)[..., 3].astype(float)
        sigmoid = 1 / (1 + np.exp(-(4 * image[..., 0].astype(float) / 255 - 2.6)))
        assert np.abs(alpha - sigmoid * 255).max() <= 1.01


def test_the_page_and_its_files_come_from_this_server_only(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert f"/static/{name}" in page.text
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200
        assert "http://" not in asset.text and "https://" not in asset.text, f"{name} refers to another server (the page must work offline)"
    assert "http://" not in page.text and "https://" not in page.text


def test_segment_png_is_the_index_mask(client, photo):
    image, mask = photo
    response = client.post("/api/segment", files={"image": ("scene.png", png(image), "image/png")})
    out = Image.open(io.BytesIO(response.content))
    assert out.mode == "P"  # values are class ids; viewers show the palette's colours
    assert np.array_equal(decode(response), mask)
    assert float(response.headers["x-inference-ms"]) >= 0
    assert response.headers["x-image-size"] == f"{image.shape[1]}x{image.shape[0]}"
    assert "inference;dur=" in response.headers["server-timing"]


def test_segment_json_has_ids_and_counts(client, photo):
    image, mask = photo
    # As curl sends a file: application/octet-stream. The server goes by the bytes, not the declared type.
    response = client.post("/api/segment?format=json", files={"image": ("scene", png(image), "application/octet-stream")})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert (body["width"], body["height"]) == (image.shape[1], image.shape[0])
    assert body["classes"] == CLASSES
    assert np.array_equal(np.array(body["mask"], dtype=np.uint8), mask)
    assert body["counts"] == {name: int((mask == i).sum()) for i, name in enumerate(CLASSES)}
    assert body["inference_ms"] >= 0


def test_segment_overlay_is_the_library_overlay(client, photo):
    image, mask = photo
    response = client.post("/api/segment", params={"format": "overlay"}, files={"image": ("scene.png", png(image))})
    assert np.array_equal(decode(response), overlay(image, mask))


def test_a_jpeg_and_an_exif_rotated_photo(client, photo):
    image, _ = photo
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to view
    Image.fromarray(image).save(buffer, format="JPEG", quality=95, exif=exif)
    response = client.post("/api/segment", files={"image": ("photo.jpg", buffer.getvalue(), "image/jpeg")})
    shown = np.array(Image.open(io.BytesIO(buffer.getvalue())).transpose(Image.Transpose.ROTATE_270))  # as a viewer shows it
    assert np.array_equal(decode(response), expected_mask(shown))


def library(predictor, image, effect, target, background=None, strength=15.0, **matte):
    """What `pixelseg apply` computes: the predictor's probabilities -> Matte (its defaults) -> Effect -> PNG bytes."""
    options = {"feather": 2.0, "solid": 0.2, **matte}
    return encode(apply_image(predictor, Effect(effect, background=background, strength=strength), Matte(target, **options), image))


@pytest.mark.parametrize("form, expect", [
    ({"effect": "replace", "target": "person", "color": "#00ff00"}, dict(effect="replace", target=1, background="#00ff00")),
    ({"effect": "replace", "target": "1", "color": "102030", "feather": "0"}, dict(effect="replace", target=1, background="#102030", feather=0.0)),
    ({"effect": "blur", "target": "thing", "strength": "4"}, dict(effect="blur", target=2, strength=4.0)),
    ({"effect": "retain-color"}, dict(effect="retain-color", target=1)),  # default target: "person", as `pixelseg apply`
    ({"effect": "cutout", "target": "person,2", "solid": "0"}, dict(effect="cutout", target=[1, 2], solid=0.0)),
    ({"effect": "cutout", "target": "2", "threshold": "0.5"}, dict(effect="cutout", target=2, threshold=0.5)),
], ids=["replace-colour", "replace-sharp", "blur", "retain-color", "cutout-two-classes", "cutout-hard"])
def test_apply_gives_the_library_effect(client, predictor, photo, form, expect):
    image, _ = photo
    response = client.post("/api/apply", data=form, files={"image": ("scene.png", png(image), "image/png")})
    assert response.status_code == 200, response.text
    assert response.content == library(predictor, image, **expect)  # the same bytes
    assert response.headers["x-mask-source"] == "model" and float(response.headers["x-inference-ms"]) >= 0


def test_apply_after_segment_reuses_the_logits(client, predictor):
    image, _ = scene(61)
    files = {"image": ("fresh.png", png(image), "image/png")}
    assert client.post("/api/segment", files=files).headers["x-cache"] == "miss"
    response = client.post("/api/apply", data={"effect": "blur"}, files=files)
    assert response.headers["x-cache"] == "hit"
    assert response.content == library(predictor, image, "blur", 1)


def test_apply_with_a_background_image(client, predictor, photo):
    image, _ = photo
    backdrop = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)  # another size: covers the frame
    response = client.post("/api/apply", data={"effect": "replace", "target": "person"},
                           files={"image": ("scene.png", png(image)), "background": ("bg.png", png(backdrop))})
    assert response.content == library(predictor, image, "replace", 1, background=backdrop)


def test_apply_with_an_uploaded_mask_skips_the_model(client, photo):
    image, _ = photo
    given = np.zeros(image.shape[:2], dtype=np.uint8)
    given[:, : image.shape[1] // 2] = 1  # not what the model would say
    response = client.post("/api/apply", data={"effect": "retain-color", "target": "person", "feather": "0"},
                           files={"image": ("scene.png", png(image)), "mask": ("mask.png", png(given))})
    assert response.content == encode(Effect("retain-color")(image, given == 1))
    assert response.headers["x-mask-source"] == "upload" and "x-inference-ms" not in response.headers


@pytest.mark.parametrize("effect, options", [
    ("replace", {"background": "#00ff00"}),
    ("blur", {"strength": "5", "feather": "3"}),
    ("retain-color", {"target": "thing", "solid": "0.1"}),
    ("retain-color", {}),                       # every default, both sides
    ("cutout", {"threshold": "0.5", "feather": "0"}),
])
def test_the_api_and_pixelseg_apply_give_the_same_bytes(client, checkpoint, photo, tmp_path, effect, options):
    """One photo, effect and options: /api/apply (and so the page, which posts to it) answers
    byte for byte the file `pixelseg apply` writes (issue 16)."""
    image, _ = photo
    source = tmp_path / "photo.png"
    Image.fromarray(image).save(source)
    flags = [f"--{key}={value}" for key, value in options.items()]
    with torch_threads(1):
        assert main(["apply", effect, str(source), "--out", str(tmp_path / "out.png"), "--checkpoint", str(checkpoint),
                     "--device", "cpu", "--quiet", *flags]) == 0
    form = {("color" if key == "background" else key): value for key, value in options.items()}
    response = client.post("/api/apply", data={"effect": effect, **form}, files={"image": ("photo.png", source.read_bytes(), "image/png")})
    assert response.status_code == 200, response.text
    assert response.content == (tmp_path / "out.png").read_bytes()


def _truncated_png(image):
    data = png(image)
    return data[: len(data) // 2]


def _pcx(image):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PCX")  # an image, but not a format this server opens
    return buffer.getvalue()


def _broken_jpeg(image):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    data[300:] = b"\xff\xd9" + bytes(20)  # scan data replaced: end-of-image marker, then nothing
    return bytes(data)


SMALL, _ = scene(16, 40, 50)
GOOD = ("scene.png", png(SMALL), "image/png")

# (path, form fields, files, status, words the message must hold)
ERRORS = {
    "text": ("/api/segment", {}, {"image": ("notes.txt", b"just some text, not a picture\n" * 20, "text/plain")}, 415, "not an image"),
    "pdf": ("/api/segment", {}, {"image": ("doc.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "application/pdf")}, 415, "not an image"),
    "pcx": ("/api/segment", {}, {"image": ("old.pcx", _pcx(SMALL), "image/x-pcx")}, 415, "PNG, JPEG"),
    "empty": ("/api/segment", {}, {"image": ("empty.png", b"", "image/png")}, 400, "empty"),
    "truncated-png": ("/api/segment", {}, {"image": ("cut.png", _truncated_png(SMALL), "image/png")}, 400, "corrupt or truncated"),
    "broken-jpeg": ("/api/segment", {}, {"image": ("broken.jpg", _broken_jpeg(SMALL), "image/jpeg")}, 400, "corrupt or truncated"),
    "huge-dimensions": ("/api/segment", {}, {"image": ("bomb.png", png_header_only(100_000, 100_000), "image/png")}, 413, "image is 10000.0 MP"),
    "huge-under-pil-limit": ("/api/segment", {}, {"image": ("wide.png", png_header_only(20_000, 1_000), "image/png")}, 413, "20000×1000 (20.0 MP)"),
    "over-max-pixels": ("/api/segment", {}, {"image": ("big.png", png(np.zeros((301, 300, 3), np.uint8)), "image/png")}, 413, "300×301"),
    "too-many-bytes": ("/api/segment", {}, {"image": ("big.bin", os.urandom(MAX_BYTES + 1000), "image/png")}, 413, "upload too large"),
    "no-image": ("/api/segment", {}, {"picture": GOOD}, 422, "image: required"),
    "bad-format": ("/api/segment?format=gif", {}, {"image": GOOD}, 400, "format"),
    "bad-effect": ("/api/apply", {"effect": "sparkle"}, {"image": GOOD}, 400, "replace, blur, retain-color, cutout"),
    "no-effect": ("/api/apply", {}, {"image": GOOD}, 422, "effect: required"),
    "bad-target": ("/api/apply", {"effect": "blur", "target": "cat"}, {"image": GOOD}, 400, "background, person, thing"),
    "bad-colour": ("/api/apply", {"effect": "replace", "color": "green"}, {"image": GOOD}, 400, "#RRGGBB"),
    "bad-strength": ("/api/apply", {"effect": "blur", "strength": "0"}, {"image": GOOD}, 400, "strength"),
    "strength-not-a-number": ("/api/apply", {"effect": "blur", "strength": "lots"}, {"image": GOOD}, 422, "strength"),
    "bad-feather": ("/api/apply", {"effect": "blur", "feather": "-1"}, {"image": GOOD}, 400, "feather"),
    "background-not-an-image": ("/api/apply", {"effect": "replace"}, {"image": GOOD, "background": ("bg.txt", b"hello", "text/plain")}, 415, "background"),
    "mask-wrong-size": ("/api/apply", {"effect": "retain-color"}, {"image": GOOD, "mask": ("m.png", png(np.zeros((10, 10), np.uint8)))}, 400, "mask: 10×10"),
    "mask-not-ids": ("/api/apply", {"effect": "retain-color"}, {"image": GOOD, "mask": ("m.png", png(SMALL))}, 400, "single-channel"),
    "mask-bad-values": ("/api/apply", {"effect": "retain-color"}, {"image": GOOD, "mask": ("m.png", png(np.full((40, 50), 7, np.uint8)))}, 400, "[7]"),
}


@pytest.mark.parametrize("case", ERRORS, ids=list(ERRORS))
def test_bad_requests_get_a_clear_4xx_and_the_server_keeps_serving(client, case):
    path, data, files, status, words = ERRORS[case]
    response = client.post(path, data=data, files=files)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and words in detail, detail
    after = client.post("/api/segment", files={"image": GOOD})
    assert np.array_equal(decode(after), expected_mask(SMALL))


def test_a_chunked_body_over_the_limit_is_cut_off(client):
    def body():
        for _ in range(10):
            yield os.urandom(MAX_BYTES // 4)  # no Content-Length: the server counts as it reads

    response = client.post("/api/segment", content=body(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413 and "upload too large" in response.json()["detail"]


def test_only_loopback_host_names_when_asked(predictor):
    app = create_app(predictor, allowed_hosts=LOOPBACK_NAMES)
    with TestClient(app, base_url="http://127.0.0.1:8000") as local:
        assert local.get("/api/model").status_code == 200
        assert local.get("/api/model", headers={"host": "localhost:8000"}).status_code == 200
        # A page on another site that rebinds its DNS name to 127.0.0.1 still sends its own name.
        assert local.get("/api/model", headers={"host": "attacker.example:8000"}).status_code == 400


def test_50_concurrent_requests_are_all_answered_correctly(app, predictor):
    """A real uvicorn server on 127.0.0.1: 50 different photos at once (masks, JSON and effects mixed),
    with bad uploads among them; every answer is the one the Predictor gives for that photo."""
    photos = [scene(100 + i, 40 + 7 * (i % 6), 48 + 5 * (i % 9)) for i in range(50)]  # sizes differ: a mix-up shows

    def ask(url, client, i):
        image, _ = photos[i]
        files = {"image": (f"p{i}.png", png(image), "image/png")}
        if i % 3 == 0:
            response = client.post(f"{url}/api/segment", params={"format": "json"}, files=files)
            assert response.status_code == 200, response.text
            return np.array(response.json()["mask"], dtype=np.uint8)
        if i % 3 == 1:
            return decode(client.post(f"{url}/api/segment", files=files))
        response = client.post(f"{url}/api/apply", data={"effect": "cutout", "target": "1,2"}, files=files)
        assert response.status_code == 200, response.text
        return response.content

    def ask_badly(url, client, j):
        files = [{"image": ("x.txt", b"not an image", "text/plain")}, {"image": ("bomb.png", png_header_only(90_000, 90_000))},
                 {"image": ("cut.png", _truncated_png(SMALL))}][j % 3]
        return client.post(f"{url}/api/segment", files=files).status_code

    with torch_threads(1), running_server(app) as url, httpx.Client(timeout=60, limits=httpx.Limits(max_connections=60)) as http:
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            good = [pool.submit(ask, url, http, i) for i in range(50)]
            bad = [pool.submit(ask_badly, url, http, j) for j in range(9)]
            answers = [future.result() for future in good]
            assert [future.result() for future in bad] == [415, 413, 400] * 3
        # A body far over the limit, sent in full: refused unread, and the server answers the next request.
        big = http.post(f"{url}/api/segment", files={"image": ("big.png", os.urandom(3 * MAX_BYTES))})
        assert big.status_code == 413
        assert decode(http.post(f"{url}/api/segment", files={"image": GOOD})).shape == SMALL.shape[:2]

    for i, ((image, painted), answer) in enumerate(zip(photos, answers)):
        direct = predictor.predict(image)
        assert np.array_equal(direct, painted)
        if i % 3 == 2:
            assert answer == library(predictor, image, "cutout", [1, 2]), f"request {i}"
        else:
            assert np.array_equal(answer, direct), f"request {i}"


# ---- the command ------------------------------------------------------------------------------

def test_serve_binds_to_loopback_by_default():
    args = build_parser().parse_args(["serve", "--checkpoint", "model.pt"])
    assert (args.host, args.port) == ("127.0.0.1", 8000)


def test_serve_without_a_checkpoint_is_one_clear_line(tmp_path, capsys):
    assert main(["serve", "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "checkpoint not found" in err


def test_serve_runs_the_model_as_predict_would(checkpoint, monkeypatch, capsys):
    """--input-size, --max-size, --window and --tta reach the predictor the page uses."""
    import pixelseg.serve

    built = {}

    def spy(path, *args, **options):
        built.update(options)
        return original(path, *args, **options)

    class StoppedServer:  # stands in for uvicorn: the user pressed Ctrl+C at once
        def run(self, sockets):
            raise KeyboardInterrupt

    original = Predictor.from_checkpoint
    monkeypatch.setattr(Predictor, "from_checkpoint", spy)
    monkeypatch.setattr(pixelseg.serve, "uvicorn_server", lambda app: StoppedServer())
    assert main(["serve", "--checkpoint", str(checkpoint), "--port", "0", "--input-size", "96", "--max-size", "512",
                 "--window", "64x80", "--tta", "flip", "--tta-scales", "0.75,1", "--size-multiple", "32"]) == 0
    assert built == {"window": (64, 80), "flip": True, "max_size": 512, "input_size": 96, "refine": None,
                     "threshold": None, "scales": (0.75, 1.0), "size_multiple": 32}  # None: the checkpoint's own
    assert "stopped" in capsys.readouterr().out


def test_a_busy_port_is_one_clear_line():
    taken = listen("127.0.0.1", 0)
    try:
        with pytest.raises(PixelsegError, match="another server is using it"):
            listen("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()


@pytest.mark.slow  # a fresh interpreter imports torch: seconds on a busy machine
def test_pixelseg_serve_end_to_end(checkpoint):
    """The real command in its own process: it prints its address (127.0.0.1), serves, stops on Ctrl+C."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "pixelseg", "serve", "--checkpoint", str(checkpoint), "--port", "0", "--device", "cpu"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = None
        for line in process.stdout:  # "pixelseg serve: open http://127.0.0.1:PORT/ ..."
            if "open http://" in line:
                url = line.split("open ", 1)[1].split()[0].rstrip("/")
                break
        assert url and url.startswith("http://127.0.0.1:"), process.stderr.read() if process.poll() is not None else url
        with httpx.Client(timeout=30) as http:
            assert [c["name"] for c in http.get(f"{url}/api/model").json()["classes"]] == CLASSES
            assert http.get(f"{url}/api/model").json()["checkpoint"] == checkpoint.name
            assert np.array_equal(decode(http.post(f"{url}/api/segment", files={"image": GOOD})), expected_mask(SMALL))
            assert http.get(f"{url}/", headers={"host": "attacker.example"}).status_code == 400
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
