from __future__ import annotations

import pytest
import torch

import pixelseg
from pixelseg.models.registry import upsample_modes
from pixelseg.nn.upsample import UPSAMPLE_MODES


def test_list_models_is_sorted_and_complete():
    names = pixelseg.list_models()
    assert names == sorted(names)
    assert {"fcn8s", "fcn16s", "fcn32s", "lraspp", "segnet", "unet"} <= set(names)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ValueError, match="unet"):
        pixelseg.create_model("unet3000", 2)


def test_unsupported_upsample_mode_is_refused_by_name():
    assert upsample_modes("unet") == UPSAMPLE_MODES
    assert upsample_modes("segnet")[0] == "unpool"
    assert "unpool" not in upsample_modes("fcn8s")
    assert upsample_modes("lraspp") == ()
    with pytest.raises(ValueError, match="fcn8s.*unpool"):
        pixelseg.create_model("fcn8s", 2, upsample="unpool")
    with pytest.raises(ValueError, match="no upsample option"):
        pixelseg.create_model("lraspp", 2, upsample="bilinear")


def test_config_rebuilds_the_model_without_pretrained():
    model = pixelseg.create_model("unet", 4, 1, base_channels=8, upsample="bilinear")
    config = model.pixelseg_config
    assert config == {"name": "unet", "num_classes": 4, "in_channels": 1, "options": {"base_channels": 8, "upsample": "bilinear"}}
    rebuilt = pixelseg.create_model(config["name"], config["num_classes"], config["in_channels"], **config["options"])
    rebuilt.load_state_dict(model.state_dict())
    model.eval(), rebuilt.eval()
    x = torch.randn(1, 1, 40, 40)
    assert torch.equal(model(x), rebuilt(x))


def test_config_leaves_out_pretrained(tmp_path):
    import torchvision

    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    model = pixelseg.create_model("unet", 2, encoder="resnet18", pretrained=str(path))
    assert model.pixelseg_config["options"] == {"encoder": "resnet18"}


def test_unet_keeps_the_lead_constructor():
    model = pixelseg.create_model("unet", 3, base_channels=8, upsample="nearest")
    assert model.encoder.channels == [8, 8, 16, 32, 64]  # depth 4 by default
    assert pixelseg.create_model("unet", 3, base_channels=4, depth=2).encoder.channels == [4, 4, 8]
    default = pixelseg.create_model("unet", 3)
    assert default.encoder.channels == [8, 32, 64, 128, 256]
    assert default.head.in_channels == 16


def test_bad_num_classes():
    with pytest.raises(ValueError, match="num_classes"):
        pixelseg.create_model("unet", 0)


def test_a_missing_architecture_module_fails_loudly(monkeypatch):
    """No stub-era tolerance: a renamed module must not silently vanish from list_models() (issue 16)."""
    from pixelseg.models import registry

    monkeypatch.setattr(registry, "_ARCHITECTURE_MODULES", (*registry._ARCHITECTURE_MODULES, "pixelseg.models.renamed_away"))
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(ModuleNotFoundError, match="renamed_away"):
        registry.list_models()
