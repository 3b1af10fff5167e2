"""Temporal smoothing: steady where the picture is still, no trail where it moves; the fixed average as it was."""
import numpy as np
import pytest

from pixelseg.apply import Matte
from pixelseg.apply.smoothing import FixedAverage, MotionAverage, smoother


def scene(rng, height=60, width=80):
    return rng.integers(0, 256, (height, width, 3)).astype(np.int16)


def noisy(image, rng, sigma=2.0):
    """The frame a camera gives of a still scene: the scene plus sensor noise."""
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", range(5))
def test_still_picture_flickering_model_motion_is_as_steady_as_the_fixed_average(seed):
    rng = np.random.default_rng(seed)
    image = scene(rng)
    truth = np.zeros(image.shape[:2], np.float32)
    truth[:, 30:] = 1.0
    outputs = {"raw": [], "fixed": [], "motion": []}
    smoothers = {"fixed": FixedAverage(0.6), "motion": MotionAverage(0.6)}
    for _ in range(60):
        frame = noisy(image, rng)
        p = np.clip(truth + rng.normal(0, 0.25, truth.shape), 0, 1).astype(np.float32)  # the model's flicker
        outputs["raw"].append(p)
        for name, smooth in smoothers.items():
            outputs[name].append(smooth(p, frame).copy())
    flicker = {name: np.std(np.stack(frames[10:]), axis=0).mean() for name, frames in outputs.items()}
    # An EMA of weight s leaves sqrt((1 - s) / (1 + s)) of the noise: 0.5 at s = 0.6.
    assert flicker["fixed"] < 0.55 * flicker["raw"]
    assert flicker["motion"] < 1.02 * flicker["fixed"]


@pytest.mark.parametrize("seed", range(5))
def test_moving_person_leaves_no_trail_with_motion_and_one_with_the_fixed_average(seed):
    rng = np.random.default_rng(seed)
    background, person_colour = scene(rng, 60, 120), rng.integers(0, 256, 3)
    speed, side = int(rng.integers(3, 9)), 20
    fixed, motion = FixedAverage(0.6), MotionAverage(0.6)
    for index in range(8):
        left = 5 + speed * index
        truth = np.zeros((60, 120), np.float32)
        truth[20 : 20 + side, left : left + side] = 1.0
        frame = background.copy()
        frame[truth > 0] = person_colour
        frame = noisy(frame, rng)
        moved = fixed(truth, frame), motion(truth, frame)
    was_there = np.zeros_like(truth, dtype=bool)
    was_there[20 : 20 + side, left - speed : left - speed + side] = True
    trail = was_there & (truth == 0)  # where the person was one frame ago and is no more
    fixed_out, motion_out = moved
    # Unless the person's colour is the background's there, where no picture can tell.
    different = np.abs(background.astype(int) - person_colour).max(axis=2) > 40
    assert fixed_out[trail & different].mean() > 0.3  # the ghost: 0.6 of the last frame and more
    assert motion_out[trail & different].mean() < 0.05
    assert np.abs(motion_out - truth)[truth == 1].max() < 0.35 and motion_out[truth == 1].mean() > 0.97  # the new position at once


def test_fixed_average_is_the_moving_average_it_always_was():
    rng = np.random.default_rng(0)
    frames = [rng.random((5, 7)).astype(np.float32) for _ in range(4)]
    smooth, expected = smoother("fixed", 0.5), frames[0]
    for p in frames:
        out = smooth(p, None)
        expected = p if p is frames[0] else 0.5 * expected + 0.5 * p
        assert np.allclose(out, expected)
    smooth.reset()
    assert np.array_equal(smooth(frames[3]), frames[3])


def test_motion_without_frames_averages_like_fixed_and_unknown_modes_are_refused():
    rng = np.random.default_rng(1)
    a, b = rng.random((4, 4)).astype(np.float32), rng.random((4, 4)).astype(np.float32)
    fixed, motion = FixedAverage(0.5), MotionAverage(0.5)
    fixed(a), motion(a)
    assert np.allclose(fixed(b), motion(b))
    with pytest.raises(ValueError, match="smoothing mode"):
        smoother("euro", 0.5)


def test_matte_passes_the_frame_to_the_smoothing():
    image = np.zeros((10, 10, 3), np.uint8)
    probabilities = np.zeros((2, 10, 10), np.float32)
    probabilities[0] = 1.0
    matte = Matte(1, feather=0, smoothing=0.9)  # motion, the default
    matte(probabilities, image)
    image[:, :5] = 255                          # the left half changes completely ...
    probabilities[:, :, :5] = [[[0.0]], [[1.0]]]  # ... and the model sees a person there now
    alpha = matte(probabilities, image)
    assert np.allclose(alpha[:, :3], 1.0) and np.allclose(alpha[:, 8:], 0.0)
    assert np.allclose(Matte(1, feather=0, smoothing=0.9, smoothing_mode="fixed")(probabilities, image)[:, :3], 1.0)  # first frame: as is
