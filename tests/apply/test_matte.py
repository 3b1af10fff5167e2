import numpy as np
import pytest
import torch

from pixelseg.apply import Effect, Matte, default_target


def two_class(p_target: np.ndarray) -> np.ndarray:
    """Probabilities (2, H, W) with P(class 1) = p_target."""
    return np.stack([1.0 - p_target, p_target]).astype(np.float32)


def test_default_target_is_person_else_class_1():
    assert default_target(["background", "Person", "car"]) == 1
    assert default_target(["sky", "road", "person"]) == 2
    assert default_target(["background", "disc", "square"]) == 1
    assert default_target(["only"]) == 0


def test_soft_alpha_is_the_probability_and_threshold_makes_it_hard():
    p = np.linspace(0, 1, 11, dtype=np.float32)[None].repeat(4, 0)
    assert np.allclose(Matte(1, feather=0)(two_class(p)), p)
    assert np.array_equal(Matte(1, threshold=0.5, feather=0)(torch.from_numpy(two_class(p))), (p >= 0.5).astype(np.float32))


def test_smoothing_is_an_exponential_moving_average_and_resets():
    matte = Matte(1, feather=0, smoothing=0.75)
    ones, zeros = np.ones((3, 3), np.float32), np.zeros((3, 3), np.float32)
    assert np.allclose(matte(two_class(ones)), 1.0)            # the first frame starts the average
    assert np.allclose(matte(two_class(zeros)), 0.75)          # 0.75·1 + 0.25·0
    assert np.allclose(matte(two_class(zeros)), 0.5625)        # 0.75·0.75
    matte.reset()
    assert np.allclose(matte(two_class(zeros)), 0.0)
    assert np.allclose(matte(two_class(np.ones((5, 3), np.float32))), 1.0)  # a new size starts over


def test_smoothing_removes_single_frame_flicker_under_a_threshold():
    matte = Matte(1, threshold=0.5, feather=0, smoothing=0.6)
    steady = np.full((2, 2), 0.9, np.float32)
    matte(two_class(steady))
    flicker = matte(two_class(np.full((2, 2), 0.1, np.float32)))  # one bad frame: 0.6·0.9 + 0.4·0.1 = 0.58
    assert (flicker == 1.0).all()


def test_bad_settings():
    with pytest.raises(ValueError, match="smoothing"):
        Matte(1, smoothing=1.0)
    with pytest.raises(ValueError, match="threshold"):
        Matte(1, threshold=1.5)
    with pytest.raises(ValueError, match="needs a background"):
        Effect("replace")
    with pytest.raises(ValueError, match="unknown effect 'sepia'"):
        Effect("sepia")
    with pytest.raises(ValueError, match="#RRGGBB"):
        Effect("replace", background="#12345")


def test_effect_by_name_matches_the_functions():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    mask = np.zeros((20, 30), bool)
    mask[5:15, 10:20] = True
    background = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    replace = Effect("replace", background=background)
    first, second = replace(image, mask), replace(image, mask)  # the fitted background is reused
    assert np.array_equal(first, second) and np.array_equal(first[mask], image[mask])
    assert Effect("cutout")(image, mask).shape == (20, 30, 4) and Effect("cutout").rgba
    out = Effect("retain-color")(image, mask)
    assert np.array_equal(out[~mask][:, 0], out[~mask][:, 1])


def test_solid_core_makes_the_inside_exactly_one_and_the_outside_exactly_zero():
    p = np.array([[0.0, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.93, 1.0]], dtype=np.float32)
    alpha = Matte(1, feather=0, solid=0.2)(two_class(p))
    np.testing.assert_allclose(alpha, [[0, 0, 0, 0.25, 0.5, 0.75, 1, 1, 1]], atol=1e-6)
    with pytest.raises(ValueError, match="solid"):
        Matte(1, solid=0.5)


def test_several_targets_sum_their_probabilities():
    """/api/apply's `target=person,dog`: the alpha of the classes together (issue 16)."""
    import numpy as np

    from pixelseg.apply.matte import Matte

    probabilities = np.array([[[0.5, 0.1]], [[0.3, 0.6]], [[0.2, 0.3]]], dtype=np.float32)  # (3, 1, 2)
    alpha = Matte([1, 2], feather=0)(probabilities)
    assert np.allclose(alpha, [[0.5, 0.9]])
    assert np.array_equal(Matte(1, feather=0)(probabilities), probabilities[1])
