"""What makes each architecture itself: SegNet unpools with its pooling indices, FCN's skips and
bilinear-initialised upsampling, U-Net's unpool option, LR-ASPP's speed-minded layout."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pixelseg.models.fcn import ConvClassifier
from tests.models.small import small_model


def test_segnet_unpools_with_the_encoder_pooling_indices(monkeypatch):
    torch.manual_seed(0)
    model = small_model("segnet").eval()
    x = torch.randn(1, 3, 64, 96)
    _, expected = model.encoder.forward_with_indices(x)
    calls = []
    real_unpool = F.max_unpool2d

    def spy(input, indices, *args, **kwargs):
        calls.append(indices)
        return real_unpool(input, indices, *args, **kwargs)

    monkeypatch.setattr(F, "max_unpool2d", spy)
    with torch.no_grad():
        model(x)
    assert len(calls) == 5
    for used, pooled in zip(calls, reversed(expected)):
        assert torch.equal(used, pooled)


def test_segnet_unpooled_values_sit_where_the_indices_point():
    torch.manual_seed(0)
    model = small_model("segnet").eval()
    x = torch.randn(1, 3, 64, 64)
    seen = {}
    model.decoder[0].up.register_forward_hook(lambda module, args, out: seen.update(out=out))
    with torch.no_grad():
        model(x)
        _, indices = model.encoder.forward_with_indices(x)
    out, pool5 = seen["out"], indices[-1]                     # (1, C, 4, 4), indices into 4×4 planes
    kept = torch.zeros_like(out).flatten(2).scatter_(2, pool5.flatten(2), 1.0).view_as(out).bool()
    assert (out[~kept] == 0).all()
    assert kept.sum() == out.shape[1] * 2 * 2                 # one value per 2×2 window


def test_unet_unpool_uses_indices(monkeypatch):
    calls = []
    real_unpool = F.max_unpool2d
    monkeypatch.setattr(F, "max_unpool2d", lambda *a, **k: calls.append(1) or real_unpool(*a, **k))
    small_model("unet", "unpool")(torch.randn(1, 3, 48, 48))
    assert len(calls) == 4


def test_fcn_skips_start_at_zero_so_16s_and_8s_start_as_32s():
    torch.manual_seed(0)
    model = small_model("fcn8s").eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        pool5 = model.encoder(x)[-1]
        scores = model.score(model.classifier(pool5))       # (1, 3, 2, 3)
        without_skips = model.up(model.skip_ups[1](model.skip_ups[0](scores)))
        assert torch.equal(model(x), without_skips)
    assert len(model.skip_scores) == 2 and len(small_model("fcn16s").skip_scores) == 1 and not small_model("fcn32s").skip_scores


def test_fcn_transposed_upsampling_is_bilinear_at_init():
    model = small_model("fcn32s")
    up = model.up.up
    assert up.stride == (32, 32) and up.kernel_size == (64, 64)
    scores = torch.randn(1, 3, 4, 4)
    expected = F.interpolate(scores, scale_factor=32, mode="bilinear", align_corners=False)
    with torch.no_grad():
        assert torch.allclose(model.up(scores)[..., 32:-32, 32:-32], expected[..., 32:-32, 32:-32], atol=1e-5)


def test_fc_layers_become_convolutions():
    torch.manual_seed(0)
    fc6, fc7 = torch.nn.Linear(8 * 7 * 7, 16), torch.nn.Linear(16, 16)
    classifier = ConvClassifier(8, channels=16, kernel_size=7).eval()
    classifier.load_torchvision_({
        "classifier.0.weight": fc6.weight, "classifier.0.bias": fc6.bias,
        "classifier.3.weight": fc7.weight, "classifier.3.bias": fc7.bias,
    })
    x = torch.randn(2, 8, 7, 7)
    with torch.no_grad():
        expected = F.relu(fc7(F.relu(fc6(x.flatten(1)))))
        assert torch.allclose(classifier(x)[:, :, 3, 3], expected, atol=1e-5)  # the centre sees the whole 7×7 window


def test_fcn_stride_must_be_one_of_the_papers():
    from pixelseg.models.fcn import FCN

    with pytest.raises(ValueError, match="8, 16 or 32"):
        FCN(2, stride=4, base_channels=8, fc_channels=8)


def test_lraspp_scores_at_one_eighth():
    model = small_model("lraspp")
    assert model.encoder.reductions[model.low_index] == 8 and model.encoder.reductions[-1] == 16


@pytest.mark.parametrize("encoder", [None, "resnet18"])
def test_unet_full_resolution_norm_false_leaves_batch_norm_out_at_the_inputs_size_only(encoder):
    import pixelseg

    def norm_sizes(model):
        sizes = []
        hooks = [m.register_forward_hook(lambda m, inputs, out: sizes.append(tuple(inputs[0].shape[-2:])))
                 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        model(torch.randn(2, 3, 64, 64))
        for hook in hooks:
            hook.remove()
        return sizes

    with_norm = norm_sizes(pixelseg.create_model("unet", 4, encoder=encoder))
    without = norm_sizes(pixelseg.create_model("unet", 4, encoder=encoder, full_resolution_norm=False))
    assert (64, 64) in with_norm and (64, 64) not in without
    assert sorted(s for s in with_norm if s != (64, 64)) == sorted(without)
