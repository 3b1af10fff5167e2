"""The guided filter: exact where the answer is known, edges moved onto the photo's edges."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pixelseg.inference.refine import box_mean, guided_upsample, refined_log_probabilities


def test_box_mean_matches_a_direct_window_average():
    rng = np.random.default_rng(0)
    x = rng.random((1, 1, 9, 11)).astype(np.float32)
    got = box_mean(torch.from_numpy(x), 2)[0, 0].numpy()
    for i in range(9):
        for j in range(11):
            window = x[0, 0, max(0, i - 2) : i + 3, max(0, j - 2) : j + 3]
            assert np.isclose(got[i, j], window.mean(), atol=1e-6)


def test_a_source_that_is_a_linear_function_of_the_guide_comes_back_exactly():
    """p = 0.3·I + 0.2 everywhere is what the filter's local model fits: without the regulariser the output is p itself."""
    guide = torch.rand(2, 1, 24, 32, generator=torch.Generator().manual_seed(1))
    source = 0.3 * guide + 0.2
    out = guided_upsample(guide, source, guide, radius=3, eps=1e-12)
    torch.testing.assert_close(out, source, atol=1e-4, rtol=0)


def test_constant_source_stays_constant_at_any_size():
    guide_low, guide_high = torch.rand(1, 1, 12, 16), torch.rand(1, 1, 48, 64)
    out = guided_upsample(guide_low, torch.full((1, 2, 12, 16), 0.25), guide_high)
    torch.testing.assert_close(out, torch.full((1, 2, 48, 64), 0.25), atol=1e-5, rtol=0)


def test_refinement_puts_a_blurry_edge_on_the_photos_edge():
    """A photo with a sharp step at column 37 of 80; the network's scores, made at 1/4 and blurred,
    put the step 2 columns off. Refined, the mask's edge lands on the photo's, closer than resizing alone."""
    height, width, edge = 40, 80, 37
    photo = np.full((height, width, 3), 30, np.uint8)
    photo[:, edge:] = 220
    images_high = torch.from_numpy(photo).permute(2, 0, 1)[None]                       # (1, 3, 40, 80)
    images_low = F.interpolate(images_high.float(), size=(10, 20), mode="area").to(torch.uint8)
    columns = torch.arange(20, dtype=torch.float32)
    foreground = torch.sigmoid((columns - (edge + 2) / 4) * 1.5).expand(10, 20)       # a soft step, a bit right of the edge
    logits_low = torch.stack([torch.zeros(10, 20), (foreground / (1 - foreground)).log()])[None]  # (1, 2, 10, 20)
    refined = refined_log_probabilities(logits_low, images_low, images_high).exp()
    assert refined.shape == (1, 2, height, width)
    torch.testing.assert_close(refined.sum(1), torch.ones(1, height, width), atol=1e-5, rtol=0)
    plain = F.interpolate(logits_low, size=(height, width), mode="bilinear", align_corners=False).softmax(1)
    truth = torch.zeros(height, width, dtype=torch.bool)
    truth[:, edge:] = True

    def errors(probabilities):
        return int(((probabilities[0, 1] >= 0.5) != truth).sum())

    assert errors(refined) < errors(plain)
    assert errors(refined) <= height  # within one column of the photo's edge
