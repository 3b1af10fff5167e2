"""The three transposed convolutions (scatter, zero insertion, matrix) against PyTorch."""
from __future__ import annotations

import random

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from pixelseg.transposed import (
    conv_transpose2d_matrix,
    conv_transpose2d_scatter,
    conv_transpose2d_zero_insertion,
    output_size,
)

IMPLEMENTATIONS = [conv_transpose2d_scatter, conv_transpose2d_zero_insertion, conv_transpose2d_matrix]
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}
N_CONFIGS = 2000


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda f: f.__name__)
def test_textbook_example(impl):
    # [[1,2],[3,4]] with kernel [[1,0],[1,1]], stride 1, padding 0: each value stamps a scaled kernel.
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    k = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])
    expected = [[1.0, 2.0, 0.0], [4.0, 7.0, 2.0], [3.0, 7.0, 4.0]]
    assert impl(x, k)[0, 0].tolist() == expected
    assert F.conv_transpose2d(x, k)[0, 0].tolist() == expected


def test_textbook_example_nn_module():
    layer = nn.ConvTranspose2d(1, 1, kernel_size=2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]]))
    out = layer(torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert out[0, 0].tolist() == [[1.0, 2.0, 0.0], [4.0, 7.0, 2.0], [3.0, 7.0, 4.0]]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "i, k, s, p, expected",
    [(2, 3, 1, 0, 4), (6, 4, 1, 2, 5), (2, 3, 2, 0, 5), (3, 3, 2, 1, 5)],
)
def test_textbook_sizes(impl, i, k, s, p, expected):
    x = torch.randn(1, 1, i, i)
    w = torch.randn(1, 1, k, k)
    out = impl(x, w, stride=s, padding=p)
    assert out.shape == (1, 1, expected, expected)
    torch.testing.assert_close(out, F.conv_transpose2d(x, w, stride=s, padding=p), rtol=1e-5, atol=1e-5)


def _random_config(rng: random.Random) -> dict:
    """One random valid configuration: every knob conv_transpose2d has, small enough to be fast."""
    while True:
        groups = rng.choice([1, 1, 2, 3])
        stride = (rng.randint(1, 3), rng.randint(1, 3))
        dilation = (rng.choice([1, 1, 2]), rng.choice([1, 1, 2]))
        kernel = (rng.randint(1, 4), rng.randint(1, 4))
        # up to one past d(k-1): beyond that the padding crops rows real values reached
        padding = tuple(rng.randint(0, dilation[a] * (kernel[a] - 1) + 1) for a in range(2))
        output_padding = tuple(rng.randint(0, max(stride[a], dilation[a]) - 1) for a in range(2))
        size = (rng.randint(1, 5), rng.randint(1, 5))
        try:
            for a in range(2):
                output_size(size[a], kernel[a], stride[a], padding[a], output_padding[a], dilation[a])
        except ValueError:
            continue  # padding cropped everything; draw again
        return dict(
            batch=rng.randint(1, 2),
            in_channels=groups * rng.randint(1, 2),
            out_channels=groups * rng.randint(1, 2),
            groups=groups,
            size=size,
            kernel=kernel,
            # ints when both dims agree, sometimes: the API takes both forms
            stride=stride[0] if stride[0] == stride[1] and rng.random() < 0.5 else stride,
            padding=padding,
            output_padding=output_padding,
            dilation=dilation,
            bias=rng.random() < 0.5,
            unbatched=rng.random() < 0.1,
        )


def _tensors(cfg: dict, gen: torch.Generator):
    shape = (cfg["in_channels"], *cfg["size"])
    x = torch.randn((cfg["batch"], *shape) if not cfg["unbatched"] else shape, generator=gen, dtype=torch.float64)
    w = torch.randn(cfg["in_channels"], cfg["out_channels"] // cfg["groups"], *cfg["kernel"],
                    generator=gen, dtype=torch.float64)
    b = torch.randn(cfg["out_channels"], generator=gen, dtype=torch.float64) if cfg["bias"] else None
    return x, w, b


def test_property_all_agree_with_pytorch():
    """2,000 seeded random configurations, each in float32 and float64, all three implementations."""
    rng = random.Random(2024)
    gen = torch.Generator().manual_seed(2024)
    seen = set()
    for n in range(N_CONFIGS):
        cfg = _random_config(rng)
        x64, w64, b64 = _tensors(cfg, gen)
        kwargs = {k: cfg[k] for k in ("stride", "padding", "output_padding", "groups", "dilation")}
        for dtype, tol in TOLERANCE.items():
            x, w = x64.to(dtype), w64.to(dtype)
            b = None if b64 is None else b64.to(dtype)
            expected = F.conv_transpose2d(x, w, b, **kwargs)
            for impl in IMPLEMENTATIONS:
                got = impl(x, w, b, **kwargs)
                assert got.dtype == dtype and got.shape == expected.shape, (n, cfg, impl.__name__)
                err = (got - expected).abs().max().item()
                assert err <= tol, f"config #{n} {cfg}: {impl.__name__} off by {err:.3g} in {dtype}"
        seen.add((cfg["groups"] > 1, cfg["bias"], max(cfg["output_padding"]) > 0, max(cfg["dilation"]) > 1,
                  cfg["size"][0] != cfg["size"][1], cfg["kernel"][0] != cfg["kernel"][1]))
    # the generator really exercised each knob in both states
    for knob in range(6):
        assert {key[knob] for key in seen} == {True, False}


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda f: f.__name__)
def test_unbatched_input(impl):
    x = torch.randn(2, 3, 4)
    w = torch.randn(2, 3, 2, 3)
    out = impl(x, w, stride=2, padding=(1, 0))
    assert out.shape == F.conv_transpose2d(x, w, stride=2, padding=(1, 0)).shape
    torch.testing.assert_close(out, F.conv_transpose2d(x, w, stride=2, padding=(1, 0)))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(output_padding=2, stride=2), "output_padding"),
        (dict(padding=5), "crops everything"),
        (dict(groups=2), "groups"),
        (dict(stride=0), "stride must be positive"),
        (dict(padding=(1, 2, 3)), "padding must be an int or a pair"),
    ],
)
def test_invalid_arguments_raise_value_error(impl, kwargs, match):
    x = torch.randn(1, 3, 3, 3)
    w = torch.randn(3, 1, 3, 3)
    with pytest.raises(ValueError, match=match):
        impl(x, w, **kwargs)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda f: f.__name__)
def test_gradients_flow(impl):
    # a layer built on these must be trainable: gradients w.r.t. input and weight match PyTorch's
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    gx, gw = torch.autograd.grad(impl(x, w, stride=2, padding=1).square().sum(), (x, w))
    ex, ew = torch.autograd.grad(F.conv_transpose2d(x, w, stride=2, padding=1).square().sum(), (x, w))
    torch.testing.assert_close(gx, ex)
    torch.testing.assert_close(gw, ew)
