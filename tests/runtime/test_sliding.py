import torch

import pytest

from pixelseg.runtime.sliding import _starts, check_scales, predict_logits, scaled_size, sliding_window_logits, to_long_side


class PixelwiseLinear(torch.nn.Module):
    """A 1×1 convolution: each output pixel depends on its own input pixel only, so sliding
    windows must reproduce the whole-image result exactly."""

    def __init__(self, maps: int = 4):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, maps, 1)

    def forward(self, x):
        return self.conv(x)


def test_window_starts_cover_the_image_and_end_flush():
    assert _starts(10, 4, 3) == [0, 3, 6]
    assert _starts(11, 4, 3) == [0, 3, 6, 7]
    assert _starts(4, 8, 6) == [0]


def test_sliding_window_equals_whole_image_for_a_pixelwise_model():
    model = PixelwiseLinear()
    images = torch.randn(2, 3, 37, 53)
    whole = model(images)
    for window, overlap in [((16, 16), 0.25), ((10, 30), 0.5), ((64, 64), 0.0)]:
        assert torch.allclose(sliding_window_logits(model, images, window, overlap), whole, atol=1e-6)


def test_flip_tta_of_a_flip_equivariant_model_changes_nothing():
    model = PixelwiseLinear()
    images = torch.randn(1, 3, 20, 24)
    assert torch.allclose(predict_logits(model, images, flip=True), model(images), atol=1e-6)


def test_flip_tta_averages_with_the_flipped_prediction():
    class LeftRamp(torch.nn.Module):  # adds a left-to-right ramp, so it is not flip-equivariant
        def forward(self, x):
            return x[:, :1] + torch.arange(x.shape[-1], dtype=x.dtype)

    images = torch.zeros(1, 3, 2, 4)
    out = predict_logits(LeftRamp(), images, flip=True)
    assert torch.allclose(out[0, 0, 0], torch.full((4,), 1.5))


def test_smaller_output_is_resized_to_the_input():
    class Half(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.avg_pool2d(x, 2)

    assert predict_logits(Half(), torch.randn(1, 3, 32, 48)).shape == (1, 3, 32, 48)


def test_one_output_map_slides_and_flips_like_many():
    """A binary model's one map goes through windows and flip TTA as a map per class does."""
    model = PixelwiseLinear(maps=1)
    images = torch.randn(2, 3, 37, 53)
    whole = model(images)                                                   # (2, 1, 37, 53)
    out = predict_logits(model, images, window=(16, 16), flip=True)
    assert out.shape == (2, 1, 37, 53)
    assert torch.allclose(out, whole, atol=1e-6)


class HeightMap(torch.nn.Module):
    """Every logit is the height of the image it was given: a scale's copy shows in the output."""

    def forward(self, x):
        return torch.full((x.shape[0], 1, *x.shape[-2:]), float(x.shape[-2]))


def test_multi_scale_tta_averages_the_logits_of_each_scaled_copy():
    images = torch.zeros(2, 3, 80, 96)
    out = predict_logits(HeightMap(), images, scales=(0.5, 1.0, 2.0))
    assert out.shape == (2, 1, 80, 96)
    assert torch.allclose(out, torch.full_like(out, (40 + 80 + 160) / 3))
    both = predict_logits(HeightMap(), images, scales=(0.75,), flip=True)  # each scale flipped too
    assert torch.allclose(both, torch.full_like(both, 60.0))


def test_multi_scale_tta_of_a_constant_image_and_a_pixelwise_model_changes_nothing():
    model = PixelwiseLinear()
    images = torch.randn(1, 3, 1, 1).expand(1, 3, 37, 53).contiguous()
    assert torch.allclose(predict_logits(model, images, scales=(0.5, 1.0, 1.5)), model(images), atol=1e-5)


def test_scaled_sizes_and_refused_scales():
    assert scaled_size((360, 480), 0.75) == (270, 360)
    assert scaled_size((40, 60), 0.1) == (32, 32)     # never below the models' minimum side
    assert check_scales([1, "1.25"]) == (1.0, 1.25)
    for bad in ([], [0], [-1.0], [1.0, 5.0]):
        with pytest.raises(ValueError, match="test-time scales must be factors in"):
            check_scales(bad)


@pytest.mark.parametrize("size, long_side, multiple, expected", [
    ((480, 640), 224, None, (168, 224)),   # aspect kept: the network pads 168 to 192 itself
    ((480, 640), 224, 32, (160, 224)),     # rounded to its stride instead: nothing to pad
    ((480, 640), 256, 32, (192, 256)),     # already a multiple: the aspect is exact
    ((1000, 750), 448, 32, (448, 352)),    # 336 is 10.5 strides: halves round up
    ((20, 30), None, 32, (32, 32)),        # never below one multiple
    ((64, 96), None, 32, (64, 96)),        # own size, already multiples: returned as it is
])
def test_long_side_with_a_size_multiple(size, long_side, multiple, expected):
    images = torch.zeros(1, 3, *size, dtype=torch.uint8)
    resized = to_long_side(images, long_side, multiple)
    assert tuple(resized.shape[-2:]) == expected
    if expected == size:
        assert resized is images


def test_size_multiple_changes_each_side_by_at_most_half_a_multiple():
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        height, width = (int(v) for v in torch.randint(40, 900, (2,), generator=generator))
        long_side = int(torch.randint(64, 600, (1,), generator=generator))
        multiple = int(torch.tensor([8, 16, 32])[torch.randint(0, 3, (1,), generator=generator)])
        got = to_long_side(torch.zeros(1, 1, height, width), long_side, multiple).shape[-2:]
        scale = long_side / max(height, width)
        for side, exact in zip(got, (height * scale, width * scale)):
            assert side % multiple == 0 and side >= multiple
            assert abs(side - exact) <= multiple / 2 or side == multiple
