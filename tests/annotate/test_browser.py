"""The page of `pixelseg annotate` in a real headless browser (Debian's chromium driven by Playwright),
set up as tests/serve/test_browser.py is.

A folder of synthetic photos and the crafted model of tests/serve (whose every mask is known): the
first image starts from exactly `pixelseg predict`'s mask; a polygon drawn by mouse clicks, two
brush strokes, one undone; the mask on disk matches the shapes to within a pixel at their edges.
Then the page is reloaded (it resumes at the next unlabelled image), region fill and snap, and a
save from another tab turns into a clear conflict, not a silent overwrite. The second test labels
the tutorial's cat with the labelme polygons of docs/tutorial/assets/chelsea.json;
PIXELSEG_DOCS_SCREENSHOT=docs/images/annotate.png keeps its screenshot for the docs.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import httpx
import numpy as np
import pytest
from matplotlib.path import Path as Polygon
from PIL import Image

from pixelseg.annotate import AnnotationStore, create_app
from pixelseg.cli import main
from pixelseg.data.folder import load_mask
from pixelseg.inference.predictor import Predictor
from pixelseg.serve import LOOPBACK_NAMES
from pixelseg.viz.palette import PALETTE
from tests.annotate import CLASSES, photo_folder, write_checkpoint
from tests.serve import running_server, torch_threads
from tests.serve.test_browser import ARGS, CHROMIUM, TIMEOUT, canvas_pixels, offline_page, save_docs_screenshot

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright's Python package is not installed (pip install playwright; the browser is Debian's chromium)"
)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="no chromium browser found (apt-get install chromium, or set PIXELSEG_CHROMIUM to one)")]
H, W = 96, 128
CHELSEA = Path(__file__).resolve().parents[2] / "docs" / "tutorial" / "assets" / "chelsea.json"


class Canvas:
    """Mouse positions on the page for image pixels, rounded to whole screen pixels; `image()` is
    where such a position falls on the image (what the page computes from the event)."""

    def __init__(self, page, width: int, height: int):
        self.page, self.width, self.height = page, width, height
        self.left, self.top, self.w, self.h = page.eval_on_selector(
            "#draft", "c => { const r = c.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }")

    def screen(self, x: float, y: float) -> tuple[int, int]:
        return round(self.left + x * self.w / self.width), round(self.top + y * self.h / self.height)

    def image(self, sx: int, sy: int) -> tuple[float, float]:
        return (sx - self.left) * self.width / self.w, (sy - self.top) * self.height / self.h

    def polygon(self, points) -> np.ndarray:
        """Click the points, then the first one again to close; returns the polygon as the page saw it."""
        screen = [self.screen(x, y) for x, y in points]
        for sx, sy in screen:
            self.page.mouse.click(sx, sy)
        self.page.mouse.click(*screen[0])
        return np.array([self.image(*s) for s in screen])

    def stroke(self, start, end) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.screen(*start), self.screen(*end)
        self.page.mouse.move(*a)
        self.page.mouse.down()
        self.page.mouse.move(*b, steps=12)
        self.page.mouse.up()
        return np.array(self.image(*a)), np.array(self.image(*b))


def inside_polygon(points: np.ndarray, height: int, width: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    centres = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)
    return Polygon(points).contains_points(centres).reshape(height, width)


def inside_stroke(a: np.ndarray, b: np.ndarray, size: float, height: int, width: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    p = np.stack([xs + 0.5, ys + 0.5], axis=-1)
    t = np.clip(((p - a) @ (b - a)) / max(float((b - a) @ (b - a)), 1e-9), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * (b - a)), axis=-1) <= size / 2


def edge_band(shape: np.ndarray) -> np.ndarray:
    """Pixels within one pixel of the shape's edge (their 3×3 neighbourhood has both inside and outside)."""
    padded = np.pad(shape, 1, mode="edge")
    windows = [padded[1 + dy:1 + dy + shape.shape[0], 1 + dx:1 + dx + shape.shape[1]] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return np.any(windows, axis=0) & ~np.all(windows, axis=0)


def assert_matches_within_a_pixel(saved: np.ndarray, painted: list[tuple[np.ndarray, int]], base: np.ndarray) -> None:
    expected, band = base.copy(), np.zeros(base.shape, bool)
    for shape, value in painted:
        expected[shape] = value
        band |= edge_band(shape)
    wrong = saved != expected
    assert not (wrong & ~band).any(), f"{(wrong & ~band).sum()} pixels differ away from the shapes' edges"
    assert wrong.sum() <= 0.25 * band.sum(), f"{wrong.sum()} of {band.sum()} edge pixels differ"


def read_state_mask(page) -> np.ndarray:
    data, width, height = page.evaluate("() => [Array.from(window.annotator.mask), window.annotator.width, window.annotator.height]")
    return np.array(data, dtype=np.uint8).reshape(height, width)


def wait_saved(page) -> None:
    page.wait_for_function("() => document.body.dataset.save === 'saved' && !window.annotator.saving && !window.annotator.dirty",
                           timeout=TIMEOUT)


def wait_ready(page, image_id: str) -> None:
    page.wait_for_function("(id) => document.body.dataset.state === 'ready' && window.annotator.id === id", arg=image_id, timeout=TIMEOUT)


def open_browser(playwright, url, errors, elsewhere):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    return browser, offline_page(browser, url, errors, elsewhere, viewport={"width": 1180, "height": 760})


def test_label_a_folder_in_the_browser(tmp_path):
    folder = tmp_path / "data"
    photo_folder(folder, count=3, height=H, width=W)
    with torch_threads(1):
        checkpoint = write_checkpoint(tmp_path / "colour.pt")
        assert main(["predict", str(folder / "images" / "train"), "--out", str(tmp_path / "predicted"), "--checkpoint", str(checkpoint),
                     "--quiet", "--device", "cpu"]) == 0
        predicted = {i: load_mask(tmp_path / "predicted" / f"img{i}.png") for i in range(3)}
        assert all(len(np.unique(m)) > 1 for m in predicted.values())
        store = AnnotationStore(folder, classes=CLASSES)
        app = create_app(store, Predictor.from_checkpoint(checkpoint, "cpu"), allowed_hosts=LOOPBACK_NAMES)
        errors, elsewhere = [], []
        with running_server(app) as url, sync_api.sync_playwright() as playwright:
            browser, page = open_browser(playwright, url, errors, elsewhere)
            try:
                page.goto(f"{url}/")
                wait_ready(page, "train/img0")
                assert page.get_attribute("body", "data-source") == "suggestion"
                assert page.inner_text("#count") == "0 of 3 labelled"
                assert page.eval_on_selector_all("#classes .class-name", "names => names.map(n => n.textContent)") == CLASSES
                # The model-assisted start: exactly predict's mask, shown in the palette's colours.
                assert np.array_equal(read_state_mask(page), predicted[0])
                shown = canvas_pixels(page, "#mask")
                painted = predicted[0] != 0
                assert np.array_equal(shown[..., :3][painted], PALETTE[predicted[0]][painted]) and (shown[..., 3][~painted] == 0).all()

                canvas = Canvas(page, W, H)
                page.keyboard.press("2")  # class 1, person
                page.keyboard.press("p")
                polygon = inside_polygon(canvas.polygon([(20.3, 14.2), (66.8, 22.5), (52.1, 78.6), (14.6, 62.4)]), H, W)
                wait_saved(page)
                page.keyboard.press("3")  # class 2, thing
                page.keyboard.press("b")
                page.eval_on_selector("#size", "s => { s.value = '9'; s.dispatchEvent(new Event('input')); }")
                stroke = inside_stroke(*canvas.stroke((80.2, 20.4), (118.7, 34.1)), 9, H, W)
                undone = inside_stroke(*canvas.stroke((78.5, 70.2), (116.1, 88.3)), 9, H, W)
                wait_saved(page)
                page.keyboard.press("Control+z")  # the second stroke goes
                wait_saved(page)
                version = page.evaluate("() => window.annotator.version")
                saved = load_mask(folder / "masks" / "train" / "img0.png", len(CLASSES), size=(H, W))
                assert_matches_within_a_pixel(saved, [(polygon, 1), (stroke, 2)], predicted[0])
                assert np.array_equal(saved[undone & ~stroke & ~polygon & ~edge_band(undone)],
                                      predicted[0][undone & ~stroke & ~polygon & ~edge_band(undone)])
                assert np.array_equal(saved, read_state_mask(page))
                assert page.inner_text("#count") == "1 of 3 labelled"
                page.screenshot(path=str(tmp_path / "annotate-synthetic.png"))

                # Reopened, the page resumes at the first unlabelled image, the model's suggestion again.
                page.reload()
                wait_ready(page, "train/img1")
                assert np.array_equal(read_state_mask(page), predicted[1])
                # Region fill: the background region under the click becomes "thing"; then snap a superpixel to "person".
                ys, xs = np.nonzero(predicted[1] == 0)
                seed = (int(xs[len(xs) // 2]), int(ys[len(ys) // 2]))
                canvas = Canvas(page, W, H)
                page.keyboard.press("3")
                page.keyboard.press("f")
                page.mouse.click(*canvas.screen(seed[0] + 0.5, seed[1] + 0.5))
                wait_saved(page)
                filled = load_mask(folder / "masks" / "train" / "img1.png")
                region = flood(predicted[1], seed)
                assert np.array_equal(filled, np.where(region, 2, predicted[1]))
                superpixels = np.array(Image.open(io.BytesIO(httpx.get(f"{url}/api/images/train/img1/superpixels").content))).astype(int)
                labels = superpixels[..., 0] + 256 * superpixels[..., 1]
                page.keyboard.press("2")
                page.keyboard.press("s")
                page.mouse.click(*canvas.screen(10.5, 10.5))
                page.wait_for_function("() => window.annotator.undo.length === 2", timeout=TIMEOUT)
                wait_saved(page)
                snapped = load_mask(folder / "masks" / "train" / "img1.png")
                assert np.array_equal(snapped, np.where(labels == labels[10, 10], 1, filled))
                # Snap to the model's region instead: the connected region of its mask under the click.
                page.select_option("#snap-source", "model")
                ys, xs = np.nonzero(predicted[1] == 1)
                seed = (int(xs[len(xs) // 2]), int(ys[len(ys) // 2]))
                page.keyboard.press("3")
                page.mouse.click(*canvas.screen(seed[0] + 0.5, seed[1] + 0.5))
                page.wait_for_function("() => window.annotator.undo.length === 3", timeout=TIMEOUT)
                wait_saved(page)
                assert np.array_equal(load_mask(folder / "masks" / "train" / "img1.png"), np.where(flood(predicted[1], seed), 2, snapped))

                # Back to the first image: its saved mask, with its version.
                page.keyboard.press("ArrowLeft")
                wait_ready(page, "train/img0")
                assert page.get_attribute("body", "data-source") == "mask"
                assert np.array_equal(read_state_mask(page), saved) and page.evaluate("() => window.annotator.version") == version

                # Another tab saves this image; a change here is then refused and said so, the other tab's mask kept.
                other = np.zeros((H, W), np.uint8)
                response = httpx.put(f"{url}/api/images/train/img0/mask", params={"version": version}, content=other.tobytes(),
                                     headers={"Content-Type": "application/octet-stream"})
                assert response.status_code == 200
                page.keyboard.press("f")
                page.mouse.click(*Canvas(page, W, H).screen(2.5, 90.5))
                page.wait_for_selector("body[data-save=conflict]", timeout=TIMEOUT)
                assert "another tab" in page.inner_text("#error")
                assert np.array_equal(load_mask(folder / "masks" / "train" / "img0.png"), other)
                page.click("#error button")  # reload this image: the other tab's mask
                page.wait_for_function("() => document.body.dataset.save === 'saved'", timeout=TIMEOUT)
                assert np.array_equal(read_state_mask(page), other)

                assert not errors, errors
                assert not elsewhere, f"the page asked other servers for {elsewhere}"
            finally:
                browser.close()


def flood(mask: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    """The 4-connected region of mask's value at seed (x, y)."""
    from collections import deque

    x0, y0 = seed
    value, region = mask[y0, x0], np.zeros(mask.shape, bool)
    queue = deque([(y0, x0)])
    region[y0, x0] = True
    while queue:
        y, x = queue.popleft()
        for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and not region[ny, nx] and mask[ny, nx] == value:
                region[ny, nx] = True
                queue.append((ny, nx))
    return region


def test_label_the_tutorials_cat(tmp_path):
    """The cat of the tutorial (chapter 1), labelled by clicking its labelme polygons: the mask matches them."""
    skimage_data = pytest.importorskip("skimage.data")
    folder = tmp_path / "cat"
    (folder / "images" / "train").mkdir(parents=True)
    Image.fromarray(skimage_data.chelsea()).save(folder / "images" / "train" / "chelsea.jpg", quality=92)
    shapes = json.loads(CHELSEA.read_text())["shapes"]
    classes = ["background", "cat", "eye", "nose"]
    height, width = 300, 451
    store = AnnotationStore(folder, classes=classes)
    errors, elsewhere = [], []
    with running_server(create_app(store, allowed_hosts=LOOPBACK_NAMES)) as url, sync_api.sync_playwright() as playwright:
        browser, page = open_browser(playwright, url, errors, elsewhere)
        try:
            page.goto(f"{url}/")
            wait_ready(page, "train/chelsea")
            canvas = Canvas(page, width, height)
            page.keyboard.press("p")
            painted = []
            for shape in shapes:
                value = classes.index(shape["label"])
                page.keyboard.press(str(value + 1))
                points = [(min(max(x, 0.2), width - 0.2), min(max(y, 0.2), height - 0.2)) for x, y in shape["points"]]
                painted.append((inside_polygon(canvas.polygon(points), height, width), value))
                wait_saved(page)
            saved = load_mask(folder / "masks" / "train" / "chelsea.png", len(classes), size=(height, width))
            assert_matches_within_a_pixel(saved, painted, np.zeros((height, width), np.uint8))
            page.keyboard.press("b")
            page.mouse.move(*canvas.screen(300, 200))  # the cursor's read-out in the hint line
            png = page.screenshot()
            if os.environ.get("PIXELSEG_DOCS_SCREENSHOT"):
                save_docs_screenshot(png, Path(os.environ["PIXELSEG_DOCS_SCREENSHOT"]))
            assert not errors, errors
            assert not elsewhere, elsewhere
        finally:
            browser.close()


def test_problem_images_are_said_so_on_the_page(tmp_path):
    """A file that is not an image and a mask with values outside the classes: a clear message each,
    the bad mask left as it is; an id with a space and a '#' works like any other."""
    folder = tmp_path / "data"
    split = folder / "images" / "train"
    photo_folder(folder, count=2, height=H, width=W)
    (split / "img0.png").rename(split / "bad.png")
    (split / "img1.png").rename(split / "my cat #1.png")
    (split / "fake.jpg").write_text("not a picture")
    (folder / "masks" / "train").mkdir(parents=True)
    broken = np.zeros((H, W), np.uint8)
    broken[5:9, 5:9] = 9
    Image.fromarray(broken).save(folder / "masks" / "train" / "bad.png")
    before = (folder / "masks" / "train" / "bad.png").read_bytes()
    store = AnnotationStore(folder, classes=CLASSES)
    errors, elsewhere = [], []
    with running_server(create_app(store, allowed_hosts=LOOPBACK_NAMES)) as url, sync_api.sync_playwright() as playwright:
        browser, page = open_browser(playwright, url, errors, elsewhere)
        try:
            page.goto(f"{url}/")
            page.wait_for_selector("body[data-state=error]", timeout=TIMEOUT)  # the first unlabelled one: train/fake
            assert page.evaluate("() => window.annotator.id") == "train/fake"
            assert "not a readable image" in page.inner_text("#error")
            page.keyboard.press("ArrowRight")
            wait_ready(page, "train/my cat #1")
            page.keyboard.press("f")
            page.mouse.click(*Canvas(page, W, H).screen(1.5, 1.5))
            wait_saved(page)
            assert (load_mask(folder / "masks" / "train" / "my cat #1.png") == 1).any()
            # The ignore brush paints 255, the eraser 0, each within a pixel of its stroke.
            canvas = Canvas(page, W, H)
            before_strokes = read_state_mask(page)
            page.keyboard.press("i")
            ignored = inside_stroke(*canvas.stroke((10.2, 20.3), (100.4, 30.6)), 12, H, W)
            page.keyboard.press("e")
            erased = inside_stroke(*canvas.stroke((30.7, 60.1), (110.2, 70.9)), 12, H, W)
            wait_saved(page)
            assert_matches_within_a_pixel(load_mask(folder / "masks" / "train" / "my cat #1.png", len(CLASSES)),
                                          [(ignored, 255), (erased, 0)], before_strokes)
            page.keyboard.press("ArrowLeft")
            page.keyboard.press("ArrowLeft")
            page.wait_for_function("() => window.annotator.id === 'train/bad' && document.body.dataset.state === 'error'", timeout=TIMEOUT)
            message = page.inner_text("#error")
            assert "[9]" in message and "left as it is" in message
            page.mouse.click(*Canvas(page, W, H).screen(20.5, 20.5))
            page.wait_for_timeout(300)
            assert (folder / "masks" / "train" / "bad.png").read_bytes() == before
            assert page.inner_text("#count") == "2 of 3 labelled"
            assert not errors, errors
            assert not elsewhere, elsewhere
        finally:
            browser.close()
