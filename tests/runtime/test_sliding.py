import torch

from pixelseg.runtime.sliding import _starts, predict_logits, sliding_window_logits


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
