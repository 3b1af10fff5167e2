"""Every registered model with every upsample mode it supports: any input size in, same size out,
and every parameter learns."""
from __future__ import annotations

import pytest
import torch

import pixelseg
from tests.models.small import SMALL_OPTIONS, model_modes, small_model

MODEL_MODES = model_modes()
IDS = [f"{name}-{mode}" if mode else name for name, mode in MODEL_MODES]


def test_every_model_has_small_test_options():
    assert set(pixelseg.list_models()) == set(SMALL_OPTIONS)
    assert {"fcn32s", "fcn16s", "fcn8s", "unet", "segnet", "lraspp"} <= set(pixelseg.list_models())


@pytest.mark.parametrize(("name", "mode"), MODEL_MODES, ids=IDS)
def test_output_has_the_input_size(name, mode):
    torch.manual_seed(0)
    for in_channels, shape in ((3, (1, 3, 97, 131)), (3, (2, 3, 256, 256)), (1, (1, 1, 64, 200))):
        model = small_model(name, mode, in_channels=in_channels, num_classes=5).eval()
        with torch.no_grad():
            out = model(torch.randn(shape))
        assert out.shape == (shape[0], 5, *shape[2:]), (in_channels, shape)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize(("name", "mode"), MODEL_MODES, ids=IDS)
def test_gradients_reach_every_parameter(name, mode):
    torch.manual_seed(0)
    model = small_model(name, mode).train()
    x = torch.randn(2, 3, 64, 96)
    target = torch.randint(0, 3, (2, 64, 96))
    torch.nn.functional.cross_entropy(model(x), target).backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, f"{param_name} gets no gradient"
        assert param.grad.abs().sum() > 0, f"{param_name} gets a zero gradient"


@pytest.mark.parametrize("name", sorted(SMALL_OPTIONS))
def test_smallest_input_32(name):
    model = small_model(name).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 33)).shape == (1, 3, 32, 33)


@pytest.mark.parametrize("name", sorted(SMALL_OPTIONS))
def test_bf16_autocast_and_channels_last(name):
    torch.manual_seed(0)
    model = small_model(name).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 80).contiguous(memory_format=torch.channels_last)
    target = torch.randint(0, 3, (2, 64, 80))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.dtype == torch.bfloat16 and out.shape == (2, 3, 64, 80)
    torch.nn.functional.cross_entropy(out.float(), target).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize(("name", "mode"), MODEL_MODES, ids=IDS)
def test_num_classes_1_is_a_binary_model_that_learns_with_bce(name, mode):
    """One output map, any size in; the binary loss (BCE, 255 ignored) reaches every parameter."""
    from pixelseg.losses import build_loss

    torch.manual_seed(0)
    model = small_model(name, mode, num_classes=1).train()
    x = torch.randn(2, 3, 64, 96)
    logits = model(x)
    assert logits.shape == (2, 1, 64, 96)
    target = torch.randint(0, 2, (2, 64, 96))
    target[:, :8] = 255
    build_loss("ce+dice", mode="binary")(logits, target).backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, f"{param_name} gets no gradient"
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 97, 131)).shape == (1, 1, 97, 131)
