from __future__ import annotations

import torch
import torch.nn as nn

from pixelseg.nn.blocks import ConvNormAct, DoubleConv
from pixelseg.nn.inverted_residual import InvertedResidual
from pixelseg.nn.lraspp import LRASPPHead
from pixelseg.nn.squeeze_excite import SqueezeExcite


def test_conv_norm_act_strides_and_activations():
    x = torch.randn(2, 3, 16, 20)
    assert ConvNormAct(3, 8, stride=2)(x).shape == (2, 8, 8, 10)
    assert (ConvNormAct(3, 8)(x) >= 0).all()
    assert (ConvNormAct(3, 8, act=None)(x) < 0).any()
    assert isinstance(ConvNormAct(3, 8, act=nn.Hardswish)[-1], nn.Hardswish)


def test_double_conv_keeps_size():
    assert DoubleConv(4, 6)(torch.randn(1, 4, 9, 11)).shape == (1, 6, 9, 11)


def test_inverted_residual_adds_identity_only_when_shape_kept():
    torch.manual_seed(0)
    kept = InvertedResidual(8, 32, 8, kernel_size=5, se=True, act=nn.Hardswish).eval()
    assert kept.residual
    x = torch.randn(1, 8, 12, 12)
    assert torch.allclose(kept(x) - kept.block(x), x)
    strided = InvertedResidual(8, 32, 16, stride=2)
    assert not strided.residual and strided(x).shape == (1, 16, 6, 6)
    assert InvertedResidual(8, 32, 8, dilation=2)(x).shape == x.shape


def test_squeeze_excite_only_rescales_channels():
    x = torch.rand(2, 16, 5, 5) + 0.1
    ratio = SqueezeExcite(16, 8)(x) / x                      # (2, 16, 5, 5)
    assert torch.allclose(ratio, ratio[..., :1, :1].expand_as(ratio))
    assert ((ratio >= 0) & (ratio <= 1)).all()


def test_lraspp_head_scores_at_the_low_resolution():
    out = LRASPPHead(24, 96, num_classes=4, inter_channels=16)(torch.randn(2, 24, 16, 20), torch.randn(2, 96, 8, 10))
    assert out.shape == (2, 4, 16, 20)
