"""bench/video_call.py's pieces: the clips (deterministic, exact masks, the motion each names) and the metrics."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from video_clips import SCENARIOS, load_masks, render, write_clip  # noqa: E402
from video_metrics import Scores, boundary, boundary_f  # noqa: E402


class FakePeople:
    """Stand-ins for the shared data sets: blob people and textured backgrounds."""

    def __init__(self, rng):
        def person(height, width):
            yy, xx = np.mgrid[:height, :width]
            alpha = (((yy - height / 2) / (height / 2)) ** 2 + ((xx - width / 2) / (width / 2)) ** 2 < 1) * 255
            return np.dstack([np.full((height, width, 3), (200, 60, 40)), alpha]).astype(np.uint8)

        self.portraits = [person(60, 50)]
        self.bodies = [person(120, 40)]
        self.backgrounds = [rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)]


@pytest.fixture(scope="module")
def people():
    return FakePeople(np.random.default_rng(0))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_clips_repeat_by_seed_and_their_masks_are_the_people(people, scenario):
    first = list(render(scenario, (48, 64), 6, people, seed=3))
    again = list(render(scenario, (48, 64), 6, people, seed=3))
    for (image, mask), (image2, mask2) in zip(first, again):
        assert image.shape == (48, 64, 3) and mask.shape == (48, 64) and mask.dtype == bool
        assert np.array_equal(image, image2) and np.array_equal(mask, mask2)
        if mask.any():  # the people are red-orange; the mask is where they are
            assert np.abs(image[mask].astype(int) - (200, 60, 40)).mean() < 30


def test_each_scenario_moves_as_it_says(people):
    area = {s: [m.mean() for _, m in render(s, (48, 64), 9, people, seed=0)] for s in SCENARIOS}
    assert area["walk"][0] == 0 and area["walk"][-1] == 0 and max(area["walk"]) > 0  # in, across, out
    assert all(b > a for a, b in zip(area["zoom"], area["zoom"][1:]))                 # growing
    assert area["two"][-1] > area["two"][0]                                           # a second person came in
    backgrounds = [image for image, _ in render("pan", (48, 64), 9, people, seed=0)]
    assert np.abs(backgrounds[0].astype(int) - backgrounds[-1]).mean() > 20           # the camera moved


def test_a_written_clip_keeps_every_mask(people, tmp_path):
    frames = list(render("two", (48, 64), 5, people, seed=1))
    clip = write_clip(tmp_path, "two-64x48", iter(frames))
    assert np.array_equal(load_masks(clip), np.stack([m for _, m in frames]))


def test_boundary_is_davis_seg2bmap():
    mask = np.zeros((8, 8), bool)
    mask[2:5, 3:6] = True
    expected = np.zeros((8, 8), bool)
    expected[1, 2:6] = True   # the row above and the column to the left mark the step too (DAVIS's one-sided shifts)
    expected[1:5, 2] = True
    expected[4, 3:6] = True
    expected[2:5, 5] = True
    assert np.array_equal(boundary(mask), expected)
    assert not boundary(np.ones((5, 5), bool)).any() and not boundary(np.zeros((5, 5), bool)).any()


def test_boundary_f_tolerates_a_pixel_and_not_a_big_shift():
    pytest.importorskip("cv2", reason="boundary F and the flow need OpenCV (make bench-deps)")
    truth = np.zeros((100, 100), bool)
    truth[30:70, 30:70] = True
    assert boundary_f(truth, truth) == 1.0
    assert boundary_f(np.roll(truth, 1, axis=1), truth) == 1.0       # within 0.008 × 141 → 2 px
    assert boundary_f(np.roll(truth, 10, axis=1), truth) < 0.6
    empty = np.zeros_like(truth)
    assert boundary_f(empty, empty) == 1.0 and boundary_f(empty, truth) == 0.0 and boundary_f(truth, empty) == 0.0


def test_warping_error_is_zero_for_an_output_that_moves_with_the_picture():
    pytest.importorskip("cv2", reason="boundary F and the flow need OpenCV (make bench-deps)")
    from video_metrics import Flow, warping_error

    rng = np.random.default_rng(0)
    from PIL import Image

    scene = np.asarray(Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).resize((160, 120), Image.BICUBIC))
    output = np.zeros((120, 160), np.float32)
    output[40:80, 50:100] = 1.0
    shifted_scene, shifted_output = np.roll(scene, 4, axis=1), np.roll(output, 4, axis=1)
    flow = Flow()
    pair = flow.pair(scene, shifted_scene)
    follows = warping_error(output, shifted_output, *pair, flow)
    stays = warping_error(output, output, *pair, flow)  # the output did not move with the person: a trail
    # A 4-px shift of a 40-row box changes 2 × 4 × 40 of 19,200 pixels: 0.0167 where it stays.
    assert follows < 1e-3 and 0.012 < stays < 0.02


def test_scores_count_iou_over_all_pixels_of_all_frames():
    pytest.importorskip("cv2", reason="boundary F and the flow need OpenCV (make bench-deps)")
    scores = Scores()
    a, b = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    a[:2], b[:1] = True, True                # frame 1: 4 of 8
    scores.add_frame(a, b)
    scores.add_frame(np.zeros((4, 4), bool), np.zeros((4, 4), bool))  # an empty frame adds nothing to IoU
    scores.add_pair(0.25)
    summary = scores.summary()
    assert summary["iou"] == 0.5 and summary["warping_error"] == 0.25 and summary["frames"] == 2
