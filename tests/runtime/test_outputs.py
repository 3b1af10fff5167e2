"""runtime.outputs: one output map or one per class, logits -> class probabilities and class ids."""
from __future__ import annotations

import math

import pytest
import torch

from pixelseg.runtime.outputs import (check_threshold, class_ids, class_probabilities, logits_from_probabilities, mode_of,
                                      output_maps)


def test_the_mode_is_the_number_of_output_maps():
    assert mode_of(1) == "binary"
    assert [mode_of(c) for c in (2, 3, 21)] == ["multiclass"] * 3
    with pytest.raises(ValueError, match="at least one"):
        mode_of(0)
    assert output_maps(2, "binary") == 1 and output_maps(2, "multiclass") == 2 and output_maps(5, "multiclass") == 5
    with pytest.raises(ValueError, match="two classes .* got 5"):
        output_maps(5, "binary")
    with pytest.raises(ValueError, match="mode must be one of"):
        output_maps(2, "sigmoid")


@pytest.mark.parametrize("seed", range(5))
def test_a_binary_map_is_the_two_class_softmax_of_0_and_z(seed):
    torch.manual_seed(seed)
    z = torch.randn(2, 1, 7, 9) * 10                                        # (B, 1, H, W) binary logits
    two = torch.cat([torch.zeros_like(z), z], dim=1)                         # (B, 2, H, W): the same model as two maps
    probabilities = class_probabilities(z)
    assert probabilities.shape == (2, 2, 7, 9)
    torch.testing.assert_close(probabilities, two.softmax(1), atol=1e-6, rtol=0)
    torch.testing.assert_close(probabilities[:, 1], z[:, 0].sigmoid())
    torch.testing.assert_close(probabilities.sum(1), torch.ones(2, 7, 9))
    assert torch.equal(class_ids(z), two.argmax(1).to(torch.uint8))         # threshold 0.5 = argmax of (0, z), ties included
    # (C, H, W) alone, without the batch dimension
    torch.testing.assert_close(class_probabilities(z[0]), probabilities[0])
    assert torch.equal(class_ids(z[0]), class_ids(z)[0])


def test_binary_ties_go_to_background_as_argmax_ties_do():
    z = torch.tensor([[[-1.0, 0.0, 1e-30, 1.0]]])                           # (1, 1, 4)
    assert class_ids(z).tolist() == [[0, 0, 1, 1]]
    assert torch.cat([torch.zeros_like(z), z]).argmax(0).tolist() == [[0, 0, 1, 1]]


def test_the_threshold_cuts_the_sigmoid():
    p = torch.tensor([0.05, 0.2, 0.3, 0.5, 0.7, 0.9, 0.999])
    z = torch.log(p / (1 - p)).view(1, 1, -1)                               # logits whose sigmoid is p
    assert class_ids(z, 0.25).flatten().tolist() == [0, 0, 1, 1, 1, 1, 1]
    assert class_ids(z, 0.8).flatten().tolist() == [0, 0, 0, 0, 0, 1, 1]
    assert class_ids(z, 0.0).flatten().tolist() == [1] * 7                  # everything is foreground
    assert class_ids(z, 1.0).flatten().tolist() == [0] * 7                  # nothing is
    with pytest.raises(ValueError, match=r"\[0, 1\], got 1.5"):
        class_ids(z, 1.5)
    assert check_threshold(0.3) == 0.3


def test_multiclass_logits_take_the_softmax_and_argmax_whatever_the_threshold():
    torch.manual_seed(0)
    logits = torch.randn(3, 4, 5, 6)
    torch.testing.assert_close(class_probabilities(logits), logits.softmax(1))
    assert torch.equal(class_ids(logits, 0.9), logits.argmax(1).to(torch.uint8))
    assert class_probabilities(logits.bfloat16()).dtype == torch.float32


@pytest.mark.parametrize("channels", [1, 2, 4])
def test_probabilities_go_back_to_logits_of_the_same_form(channels):
    torch.manual_seed(channels)
    logits = torch.randn(2, channels, 5, 5) * 3
    back = logits_from_probabilities(class_probabilities(logits), channels)
    assert back.shape == logits.shape
    torch.testing.assert_close(class_probabilities(back), class_probabilities(logits), atol=1e-5, rtol=0)
    if channels == 1:
        torch.testing.assert_close(back, logits, atol=1e-4, rtol=0)          # the log-odds is the logit itself
    probabilities = torch.tensor([0.0, 1.0]).view(1, 2, 1, 1)
    assert math.isfinite(float(logits_from_probabilities(probabilities, 1)))  # clamped away from log 0


@pytest.mark.parametrize("channels", [1, 3])
def test_log_probabilities_are_the_log_of_the_probabilities_and_stay_finite(channels):
    from pixelseg.runtime.outputs import class_log_probabilities

    torch.manual_seed(0)
    logits = torch.randn(2, channels, 4, 4) * 5
    torch.testing.assert_close(class_log_probabilities(logits).exp(), class_probabilities(logits), atol=1e-6, rtol=0)
    extreme = torch.full((1, channels, 1, 1), 200.0)
    extreme[:, 0] = -200.0
    assert torch.isfinite(class_log_probabilities(extreme)).all()           # log(0) never reached
