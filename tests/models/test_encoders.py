"""Encoders by name, and pretrained weights from a local file or, with no network, a clear error."""
from __future__ import annotations

import socket

import pytest
import torch
import torchvision

import pixelseg
from pixelseg.models.encoders import PretrainedWeightsError, create_encoder, encoder_names


def _check_pyramid(encoder, in_channels=3, size=64):
    features = encoder(torch.randn(1, in_channels, size, size + 32))
    assert [f.shape[1] for f in features] == encoder.channels
    assert [size // f.shape[2] for f in features] == encoder.reductions
    assert [(size + 32) // f.shape[3] for f in features] == encoder.reductions


@pytest.mark.parametrize("name", ["vgg11", "vgg16", "resnet18", "resnet34", "mobilenet"])
def test_built_in_encoders_describe_their_maps(name):
    _check_pyramid(create_encoder(name, base_channels=8).eval())


@pytest.mark.parametrize("name", ["timm:mobilenetv3_small_050", "timm:resnet18"])
def test_timm_encoders_describe_their_maps(name):
    _check_pyramid(create_encoder(name).eval())
    _check_pyramid(create_encoder(name, in_channels=1).eval(), in_channels=1)


def test_aliases_and_bad_names():
    assert {"vgg", "resnet", "mobilenet", "vgg16", "resnet18"} <= set(encoder_names())
    assert create_encoder("resnet", base_channels=8).layers == "resnet18"
    with pytest.raises(ValueError, match="unknown encoder"):
        create_encoder("inception")
    with pytest.raises(ValueError, match="timm has no model"):
        create_encoder("timm:not_a_model")
    with pytest.raises(ValueError, match="base_channels"):
        create_encoder("timm:resnet18", base_channels=8)


@pytest.mark.parametrize(("model", "options"), [
    ("unet", {"encoder": "timm:mobilenetv3_small_050"}),
    ("unet", {"encoder": "resnet18", "base_channels": 8}),
    ("unet", {"encoder": "vgg11", "base_channels": 8, "upsample": "pixelshuffle"}),
    ("fcn8s", {"encoder": "timm:resnet18", "fc_channels": 32}),
    ("fcn16s", {"encoder": "resnet18", "base_channels": 8, "fc_channels": 32}),
    ("lraspp", {"encoder": "timm:mobilenetv3_small_050", "inter_channels": 16}),
])
def test_models_on_other_encoders(model, options):
    net = pixelseg.create_model(model, 2, 1, **options)
    out = net(torch.randn(2, 1, 45, 70))
    assert out.shape == (2, 2, 45, 70)
    out.sum().backward()


def test_unet_unpool_needs_its_own_encoder():
    with pytest.raises(ValueError, match="own encoder"):
        pixelseg.create_model("unet", 2, encoder="resnet18", upsample="unpool")


def test_resnet_weights_from_a_local_file_match_torchvision(tmp_path):
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().eval()
    for module in reference.modules():  # non-trivial statistics, so a norm mix-up would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1), module.running_var.uniform_(0.5, 2)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    encoder = create_encoder("resnet18", pretrained=str(path)).eval()
    x = torch.randn(1, 3, 64, 64)
    body = torch.nn.Sequential(*list(reference.children())[:-2])
    with torch.no_grad():
        assert torch.allclose(encoder(x)[-1], body(x), atol=1e-5)
        gray = create_encoder("resnet18", in_channels=1, pretrained=str(path)).eval()
        assert torch.allclose(gray(x[:, :1])[-1], body(x[:, :1].expand(-1, 3, -1, -1)), atol=1e-4)


def test_vgg_weights_fold_the_convolution_bias_into_the_norm(tmp_path):
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    features = make_layers(cfgs["A"], batch_norm=True).eval()  # torchvision's vgg11_bn body
    for module in features.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.bias.data.uniform_(-1, 1)
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1), module.running_var.uniform_(0.5, 2)
    path = tmp_path / "vgg11_bn.pth"
    torch.save({f"features.{key}": value for key, value in features.state_dict().items()}, path)
    encoder = create_encoder("vgg11", pretrained=str(path)).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(encoder(x)[-1], features(x), atol=1e-4)
    with pytest.raises(ValueError, match="base_channels=64"):
        create_encoder("vgg11", pretrained=str(path), base_channels=8)


def test_timm_weights_from_a_local_file(tmp_path):
    import timm

    source = timm.create_model("mobilenetv3_small_050")
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    encoder = create_encoder("timm:mobilenetv3_small_050", pretrained=str(path))
    assert torch.equal(encoder.model.conv_stem.weight, source.conv_stem.weight)


def test_missing_weights_file():
    with pytest.raises(PretrainedWeightsError, match="does not exist"):
        create_encoder("resnet18", pretrained="/nonexistent/resnet18.pth")
    with pytest.raises(PretrainedWeightsError, match="does not exist"):
        create_encoder("timm:resnet18", pretrained="/nonexistent/resnet18.safetensors")


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """No DNS, empty torch.hub and Hugging Face caches, and the hub's offline switch on (so it
    does not spend its retries before failing)."""
    import huggingface_hub.constants

    def unreachable(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unreachable)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch_hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return tmp_path


def test_torchvision_weights_without_network_say_so(no_network):
    with pytest.raises(PretrainedWeightsError, match=r"cannot download .*resnet18.*put the file at .*torch_hub"):
        pixelseg.create_model("unet", 2, encoder="resnet18", pretrained=True)
    with pytest.raises(PretrainedWeightsError, match="cannot download .*vgg11_bn"):
        pixelseg.create_model("fcn8s", 2, encoder="vgg11", fc_channels=32, pretrained=True)


def test_timm_weights_without_network_say_so(no_network):
    with pytest.raises(PretrainedWeightsError, match="cannot download timm's pretrained weights for mobilenetv3_small_050"):
        pixelseg.create_model("lraspp", 2, encoder="timm:mobilenetv3_small_050", pretrained=True)


def test_own_encoders_without_weights_say_so():
    with pytest.raises(ValueError, match="no pretrained weights"):
        pixelseg.create_model("unet", 2, pretrained=True)
    with pytest.raises(ValueError, match="no pretrained weights"):
        pixelseg.create_model("lraspp", 2, pretrained=True)
