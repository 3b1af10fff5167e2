"""The page of `pixelseg serve` in a real headless browser (Debian's chromium driven by Playwright).

Load the page, upload a synthetic photo, wait for the result, and check the pictures it shows and
downloads pixel for pixel against the mask the crafted model is known to give (tests/serve/__init__.py).
Screenshots go to the test's tmp_path; PIXELSEG_DOCS_SCREENSHOT=docs/images/serve.png also writes
a small one for the docs.

Needs: `pip install playwright` (the Python package only; never `playwright install`) and
`apt-get install chromium`. Skipped, saying which is missing, where either is absent.
"""
from __future__ import annotations

import base64
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelseg.apply import Effect, Matte, apply_image, encode
from pixelseg.inference.predictor import Predictor
from pixelseg.serve import LOOPBACK_NAMES, create_app
from pixelseg.viz.palette import overlay
from tests.serve import CLASSES, running_server, scene, torch_threads, write_checkpoint

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright's Python package is not installed (pip install playwright; the browser is Debian's chromium)"
)


def find_chromium() -> str | None:
    for candidate in (os.environ.get("PIXELSEG_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium browser found (apt-get install chromium, or set PIXELSEG_CHROMIUM to one)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
TIMEOUT = 30_000  # ms, for each step on a busy machine
COLOUR = "#ffc83d"


def offline_page(browser, url: str, errors: list, elsewhere: list, **options):
    """A new page of `browser` that may load only from `url` (the page must work offline: a request
    to another server is aborted and noted in `elsewhere`); uncaught errors and console errors go
    to `errors`. `options` are new_page's (viewport, ...)."""
    page = browser.new_page(device_scale_factor=1, **options)

    def only_this_server(route):
        if route.request.url.startswith((url, "blob:", "data:")):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    return page


def canvas_pixels(page, selector: str) -> np.ndarray:
    data, width, height = page.evaluate(
        """(selector) => {
            const canvas = document.querySelector(selector);
            const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            return [Array.from(pixels), canvas.width, canvas.height];
        }""",
        selector,
    )
    return np.array(data, dtype=np.uint8).reshape(height, width, 4)


def download(page) -> bytes:
    """The result's file as the page saves it."""
    with page.expect_download(timeout=TIMEOUT) as info:
        page.click("#download")
    return Path(info.value.path()).read_bytes()


def wait_for_new_result(page, before: str) -> None:
    page.wait_for_function(
        "(before) => document.body.dataset.state === 'done' && document.getElementById('result').src !== before", arg=before, timeout=TIMEOUT
    )


def legend_pixels(page) -> list[int]:
    return [int(v) for v in page.eval_on_selector_all("#legend li", "items => items.map(item => item.dataset.pixels)")]


def save_docs_screenshot(png: bytes, path: Path) -> None:
    """A copy for the docs, under 150 KB: as it is when it fits, else in 256 colours."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.save(path, optimize=True)
    if path.stat().st_size >= 150_000:
        image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path, optimize=True)
    assert path.stat().st_size < 150_000, f"{path} is {path.stat().st_size} bytes"


@pytest.mark.slow
def test_the_page_segments_a_photo_and_applies_effects(tmp_path):
    image, mask = scene(27, 120, 160)
    dropped, dropped_mask = scene(35, 120, 160)
    assert set(np.unique(mask)) == {0, 1, 2}
    photo = tmp_path / "scene.png"
    Image.fromarray(image).save(photo)
    buffer = io.BytesIO()
    Image.fromarray(dropped).save(buffer, format="PNG")

    with torch_threads(1):
        checkpoint = write_checkpoint(tmp_path / "colour.pt")
        predictor = Predictor.from_checkpoint(checkpoint, "cpu")
        assert np.array_equal(predictor.predict(image), mask)
        app = create_app(predictor, allowed_hosts=LOOPBACK_NAMES, info={"checkpoint": checkpoint.name})

        with running_server(app) as url, sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                elsewhere, errors = [], []
                page = offline_page(browser, url, errors, elsewhere, viewport={"width": 1180, "height": 800}, accept_downloads=True)

                page.goto(f"{url}/")
                page.wait_for_selector("body[data-state=ready]", timeout=TIMEOUT)
                assert page.eval_on_selector_all("#legend .name", "names => names.map(n => n.textContent)") == CLASSES
                assert "unet" in page.inner_text("#model")

                # Not a picture: a clear message on the page, and the page goes on working.
                page.set_input_files("#file", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a picture"}])
                page.wait_for_selector("body[data-state=error]", timeout=TIMEOUT)
                assert "not an image" in page.inner_text("#error") and "HTTP 415" in page.inner_text("#error")

                # The photo, with "replace" (the default effect) on the person in a colour of our choosing.
                page.fill("#color", COLOUR)
                page.select_option("#target", label="person")
                page.set_input_files("#file", str(photo))
                page.wait_for_selector("body[data-state=done]", timeout=TIMEOUT)
                page.wait_for_timeout(300)  # let the colour picker's debounced re-apply (if any) settle
                page.wait_for_selector("body[data-state=done]", timeout=TIMEOUT)
                assert page.is_hidden("#error")

                # The overlay: the photo where the mask is background, the class colours blended in elsewhere.
                shown = canvas_pixels(page, "#overlay")[..., :3]
                assert shown.shape == image.shape
                assert np.array_equal(shown[mask == 0], image[mask == 0])
                assert np.abs(shown.astype(int) - overlay(image, mask, alpha=0.5)).max() <= 1
                assert legend_pixels(page) == [int((mask == i).sum()) for i in range(len(CLASSES))]
                assert "inference" in page.inner_text("#seg-time") and "ms" in page.inner_text("#seg-time")
                assert "inference" in page.inner_text("#result-info")

                # The result as downloaded: exactly what `pixelseg apply replace --background COLOUR` writes
                # (the Matte of the predicted probabilities, feather 2 and solid 0.2 as its defaults).
                assert download(page) == encode(apply_image(predictor, Effect("replace", background=COLOUR), Matte(1, feather=2, solid=0.2), image))
                screenshot = page.screenshot(path=str(tmp_path / "serve.png"), full_page=True)
                if os.environ.get("PIXELSEG_DOCS_SCREENSHOT"):
                    save_docs_screenshot(screenshot, Path(os.environ["PIXELSEG_DOCS_SCREENSHOT"]))

                # Another effect and target: a cut-out of everything but the background (RGBA).
                before = page.get_attribute("#result", "src")
                page.select_option("#target", label="everything but background")
                page.click("text=Cut-out")
                wait_for_new_result(page, before)
                assert download(page) == encode(apply_image(predictor, Effect("cutout"), Matte([1, 2], feather=2, solid=0.2), image))

                # Drag and drop another photo onto the page.
                before = page.get_attribute("#result", "src")
                transfer = page.evaluate_handle(
                    """(b64) => {
                        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                        const transfer = new DataTransfer();
                        transfer.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
                        return transfer;
                    }""",
                    base64.b64encode(buffer.getvalue()).decode(),
                )
                page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
                wait_for_new_result(page, before)
                assert "dropped.png" in page.inner_text("#filename")
                assert legend_pixels(page) == [int((dropped_mask == i).sum()) for i in range(len(CLASSES))]
                assert download(page) == encode(apply_image(predictor, Effect("cutout"), Matte([1, 2], feather=2, solid=0.2), dropped))
                page.screenshot(path=str(tmp_path / "serve-dropped.png"), full_page=True)

                assert not errors, errors
                assert not elsewhere, f"the page asked other servers for {elsewhere}"
            finally:
                browser.close()
