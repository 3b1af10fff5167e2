"""Size arithmetic: textbook numbers, agreement with PyTorch, and the errors."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from pixelseg.transposed import conv_output_size, output_size, transposed_params_for


@pytest.mark.parametrize(
    "i, k, s, p, expected",
    # Dumoulin & Visin's transposed examples: (i', k, s, p) -> o'
    [(2, 3, 1, 0, 4), (6, 4, 1, 2, 5), (2, 3, 2, 0, 5), (3, 3, 2, 1, 5)],
)
def test_textbook_transposed_sizes(i, k, s, p, expected):
    assert output_size(i, k, stride=s, padding=p) == expected


@pytest.mark.parametrize(
    "i, k, s, p, expected",
    # ... and the ordinary convolutions they transpose
    [(4, 3, 1, 0, 2), (5, 4, 1, 2, 6), (5, 3, 2, 0, 2), (5, 3, 2, 1, 3), (6, 3, 2, 1, 3)],
)
def test_textbook_conv_sizes(i, k, s, p, expected):
    assert conv_output_size(i, k, stride=s, padding=p) == expected


def test_output_padding_and_dilation():
    assert output_size(3, 3, stride=2, padding=1, output_padding=1) == 6  # exact x2
    assert output_size(4, 3, dilation=2) == 8
    assert output_size(2, 2, stride=1, output_padding=1, dilation=2) == 5  # a < d is enough
    assert conv_output_size(7, 3, dilation=3) == 1


def test_sizes_match_pytorch():
    for i, k, s, p, a, d in itertools.product(range(1, 5), range(1, 4), range(1, 4), range(3), range(3), range(1, 3)):
        try:
            expected = output_size(i, k, s, p, a, d)
        except ValueError:
            continue
        out = F.conv_transpose2d(torch.zeros(1, 1, i, 1), torch.zeros(1, 1, k, 1), stride=(s, 1), padding=(p, 0),
                                 output_padding=(a, 0), dilation=(d, 1))
        assert out.shape[2] == expected, (i, k, s, p, a, d)
        # and the ordinary convolution maps it back to i (op only picks among the sizes that do)
        assert conv_output_size(expected, k, s, p, d) == i + a // s


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: output_size(3, 3, stride=2, output_padding=2), r"output_padding \(2\) must be smaller"),
        (lambda: output_size(3, 3, stride=1, output_padding=1), "smaller than the stride"),
        (lambda: output_size(0, 3), "input size must be positive"),
        (lambda: output_size(3, 0), "kernel size must be positive"),
        (lambda: output_size(3, 3, stride=0), "stride must be positive"),
        (lambda: output_size(3, 3, padding=-1), "padding must be non-negative"),
        (lambda: output_size(1, 1, padding=1), "crops everything"),
        (lambda: output_size(2.0, 3), "input size must be an int"),
        (lambda: conv_output_size(2, 5), "kernel spans 5 pixels"),
        (lambda: conv_output_size(5, 3, dilation=0), "dilation must be positive"),
        (lambda: transposed_params_for(4, 0, 3), "output size must be positive"),
    ],
)
def test_invalid_combinations_raise_with_reason(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_params_for_exact_x2():
    assert transposed_params_for(4, 8, 4, stride=2) == [(2, 1, 0)]
    assert transposed_params_for(4, 8, 3, stride=2) == [(2, 1, 1)]
    assert transposed_params_for(4, 8, 2, stride=2) == [(2, 0, 0)]
    assert transposed_params_for(2, 4, 3, stride=1) == [(1, 0, 0)]
    assert transposed_params_for(5, 4, 1, stride=1) == []  # k=1 cannot shrink without cropping


def test_params_for_is_complete_and_correct():
    for i, o, k, d in itertools.product(range(1, 6), range(1, 12), range(1, 5), (1, 2)):
        found = transposed_params_for(i, o, k, dilation=d)
        brute = sorted(
            (s, p, a)
            for s in range(1, o + 1)
            for p in range(d * (k - 1) + 1)
            for a in range(max(s, d))
            if (i - 1) * s - 2 * p + d * (k - 1) + a + 1 == o
        )
        assert found == brute, (i, o, k, d)
        for s, p, a in found:
            assert output_size(i, k, s, p, a, d) == o
