"""The page's live mode in headless Chromium with a fake camera fed from a clip made here.

Chromium plays tests' y4m clip as its webcam (--use-fake-device-for-media-stream
--use-file-for-fake-video-capture); the page sends its frames over /api/live and draws the answers.
The frames it shows must have the chosen colour as background, away from the person's edge, and
the person's own pixels, where the decisive crafted model (tests/serve, gain 40) finds the person
in the frame the page sent. Skipped like tests/serve/test_browser.py without Playwright or Chromium.
"""
from __future__ import annotations

import numpy as np
import pytest

from pixelseg.inference.predictor import Predictor
from pixelseg.serve import LOOPBACK_NAMES, create_app
from tests.serve import running_server, scene, torch_threads, write_checkpoint
from tests.serve.test_browser import ARGS, CHROMIUM, TIMEOUT, canvas_pixels, sync_api  # noqa: F401  (skips as it does)
from tests.serve.test_live import away_from_edges

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium browser found (apt-get install chromium, or set PIXELSEG_CHROMIUM to one)")
COLOUR = "#ffc83d"


def write_y4m(path, image: np.ndarray, frames: int = 30) -> None:
    """A still clip in YUV4MPEG2 (4:2:0, full-range BT.601): Chromium's fake camera format."""
    rgb = image.astype(np.float64)
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    cb = 128 - 0.168736 * rgb[..., 0] - 0.331264 * rgb[..., 1] + 0.5 * rgb[..., 2]
    cr = 128 + 0.5 * rgb[..., 0] - 0.418688 * rgb[..., 1] - 0.081312 * rgb[..., 2]
    half = lambda plane: plane.reshape(plane.shape[0] // 2, 2, plane.shape[1] // 2, 2).mean((1, 3))  # noqa: E731
    planes = b"".join(np.clip(p + 0.5, 0, 255).astype(np.uint8).tobytes() for p in (y, half(cb), half(cr)))
    height, width = image.shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + planes)


def decisive_person(frame: np.ndarray) -> np.ndarray:
    """The gain-40 model's person rule on the frame the page sent: 40R − 26 above both 0 and 40B − 26."""
    rgb = frame.astype(np.float64) / 255
    person, thing = 40 * rgb[..., 0] - 26, 40 * rgb[..., 2] - 26
    return (person > 0) & (person > thing)


@pytest.mark.slow
def test_live_mode_with_a_fake_camera_shows_the_person_on_the_chosen_colour(tmp_path):
    image, _ = scene(27, 240, 320)
    clip = tmp_path / "camera.y4m"
    write_y4m(clip, image)
    with torch_threads(1):
        predictor = Predictor.from_checkpoint(write_checkpoint(tmp_path / "colour.pt", gain=40.0), "cpu")
        app = create_app(predictor, allowed_hosts=LOOPBACK_NAMES)
        with running_server(app) as url, sync_api.sync_playwright() as playwright:
            camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={clip}"]
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS + camera)
            try:
                context = browser.new_context(viewport={"width": 1180, "height": 1200})
                context.grant_permissions(["camera"], origin=url)
                page = context.new_page()
                errors = []
                page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
                page.goto(f"{url}/")
                page.wait_for_selector("body[data-state=ready]", timeout=TIMEOUT)
                page.fill("#color", COLOUR)
                page.select_option("#target", label="person")
                page.click("#live-start")
                page.wait_for_selector("body[data-live=running]", timeout=TIMEOUT)
                page.wait_for_function("() => Number(document.getElementById('live-out').dataset.frames) >= 5", timeout=TIMEOUT)
                shown = canvas_pixels(page, "#live-out")[..., :3].astype(int)
                sent = canvas_pixels(page, "#live-frame")[..., :3]
                stats = page.inner_text("#live-stats")
                page.click("#live-stop")
                page.wait_for_selector("body[data-live=off]", timeout=TIMEOUT)
                assert not errors, errors
            finally:
                browser.close()
    assert shown.shape == sent.shape == image.shape
    person = decisive_person(sent)
    assert person.mean() > 0.05  # the fake camera showed the scene's people
    background, inside = away_from_edges(~person, 6), away_from_edges(person, 6)
    assert np.abs(shown[background] - (255, 200, 61)).mean() < 4            # the chosen colour, within a few levels
    assert np.abs(shown[inside] - sent[inside].astype(int)).mean() < 8      # the person's pixels (two JPEGs' loss)
    assert "frames/s" in stats and "round trip" in stats
