from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pixelseg.nn.upsample import UPSAMPLE_MODES, PixelShuffleUpsample, TransposedUpsample, bilinear_kernel, make_upsample


@pytest.mark.parametrize("mode", UPSAMPLE_MODES)
@pytest.mark.parametrize("scale", [2, 4])
def test_every_mode_scales_and_sets_channels(mode, scale):
    x = torch.randn(2, 6, 5, 7)
    up = make_upsample(mode, 6, 4, scale)
    indices = None
    if mode == "unpool":  # indices of pooling a 4-channel map down to x's size
        _, indices = F.max_pool2d(torch.randn(2, 4, 5 * scale, 7 * scale), scale, return_indices=True)
    assert up(x, indices=indices).shape == (2, 4, 5 * scale, 7 * scale)


def test_unknown_mode_names_the_choices():
    with pytest.raises(ValueError, match="transposed"):
        make_upsample("cubic", 4, 4)


def test_unpool_without_indices_says_what_is_missing():
    with pytest.raises(ValueError, match="indices"):
        make_upsample("unpool", 4, 4)(torch.randn(1, 4, 3, 3))


def test_unpool_puts_values_where_the_indices_say():
    torch.manual_seed(0)
    source = torch.randn(1, 3, 8, 8)
    pooled, indices = F.max_pool2d(source, 2, return_indices=True)
    out = make_upsample("unpool", 3, 3)(pooled, indices=indices)
    assert torch.equal(out != 0, torch.zeros_like(out).flatten(2).scatter_(2, indices.flatten(2), 1.0).view_as(out) != 0)
    assert torch.equal(out.flatten(2).gather(2, indices.flatten(2)), pooled.flatten(2))


@pytest.mark.parametrize("scale", [2, 8, 32])
def test_scores_transposed_starts_as_bilinear_interpolation(scale):
    x = torch.randn(1, 3, 6, 5)
    up = make_upsample("transposed", 3, 3, scale, scores=True)
    assert isinstance(up, TransposedUpsample)
    expected = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    inner = (..., slice(scale, -scale), slice(scale, -scale))  # the borders see the zero padding
    assert torch.allclose(up(x)[inner], expected[inner], atol=1e-5)


def test_bilinear_kernel_is_separable_triangle():
    assert torch.allclose(bilinear_kernel(4)[1], torch.tensor([0.1875, 0.5625, 0.5625, 0.1875]))


def test_scores_resize_conv_is_linear():
    up = make_upsample("bilinear", 3, 3, 2, scores=True)
    x = torch.randn(1, 3, 4, 4)
    assert torch.allclose(up(-x) + up(x), 2 * up(torch.zeros_like(x)), atol=1e-6)


def test_pixelshuffle_icnr_starts_without_checkerboard():
    torch.manual_seed(0)
    up = PixelShuffleUpsample(5, 3, scale=2)
    out = up(torch.randn(1, 5, 4, 6))                                        # (1, 3, 8, 12)
    blocks = out.unfold(2, 2, 2).unfold(3, 2, 2)                             # (1, 3, 4, 6, 2, 2)
    assert torch.allclose(blocks, blocks[..., :1, :1].expand_as(blocks))  # every 2×2 block uniform
