import numpy as np
import pytest

from pixelseg.apply import blur_background, cutout, feather, parse_color, replace_background, retain_color
from pixelseg.data.synthetic import render_scene


@pytest.fixture(params=range(5))
def scene(request):
    image, mask, _ = render_scene(seed=100 + request.param, height=64, width=80)
    return image, mask > 0  # target = every object


def test_retain_color_keeps_inside_exactly_and_greys_outside(scene):
    image, mask = scene
    out = retain_color(image, mask)
    assert np.array_equal(out[mask], image[mask])
    outside = out[~mask]
    assert np.array_equal(outside[:, 0], outside[:, 1]) and np.array_equal(outside[:, 1], outside[:, 2])


def test_replace_with_colour_and_with_image(scene):
    image, mask = scene
    out = replace_background(image, mask, "#10ff80")
    assert np.array_equal(out[mask], image[mask])
    assert (out[~mask] == [16, 255, 128]).all()
    background = np.random.default_rng(0).integers(0, 256, image.shape, dtype=np.uint8)
    out = replace_background(image, mask, background)
    assert np.array_equal(out[~mask], background[~mask]) and np.array_equal(out[mask], image[mask])


def test_replace_fills_the_frame_from_a_background_of_another_size():
    image = np.zeros((20, 40, 3), dtype=np.uint8)
    background = np.full((100, 50, 3), 7, dtype=np.uint8)
    out = replace_background(image, np.zeros((20, 40), dtype=bool), background)
    assert out.shape == (20, 40, 3) and (out == 7).all()


def test_cutout_alpha_is_the_mask(scene):
    image, mask = scene
    out = cutout(image, mask)
    assert out.shape == (*mask.shape, 4)
    assert np.array_equal(out[..., 3], mask.astype(np.uint8) * 255)
    assert np.array_equal(out[..., :3], image)


def test_blur_changes_only_the_background(scene):
    image, mask = scene
    out = blur_background(image, mask, strength=4)
    assert np.array_equal(out[mask], image[mask])
    assert np.abs(out[~mask].astype(int) - image[~mask]).mean() > 1


def test_feather_softens_edges_only():
    mask = np.zeros((40, 40), dtype=bool)
    mask[10:30, 10:30] = True
    alpha = feather(mask, radius=2)
    assert alpha[20, 20] == pytest.approx(1.0, abs=1e-3) and alpha[0, 0] == pytest.approx(0.0, abs=1e-3)
    assert 0.2 < alpha[20, 10] < 0.8
    probabilities = np.linspace(0, 1, 40, dtype=np.float32)[None].repeat(3, 0)
    assert np.array_equal(feather(probabilities, radius=0, threshold=0.5), (probabilities >= 0.5).astype(np.float32))


def test_bad_input_messages():
    with pytest.raises(ValueError, match="#RRGGBB"):
        parse_color("#12")
    with pytest.raises(ValueError, match="mask is 3×2 but the image is 4×4"):
        retain_color(np.zeros((4, 4, 3), dtype=np.uint8), np.zeros((2, 3), dtype=bool))
