"""`pixelseg train --config FILE [flags]`: defaults < file < flags; --resume; errors as one line."""
import pytest

from pixelseg.cli import build_parser, main
from pixelseg.cli.train import config_from_args
from pixelseg.engine.config import ConfigError, TrainConfig, write_config


def config_for(*argv) -> TrainConfig:
    return config_from_args(build_parser().parse_args(["train", *argv]))


def test_flags_override_the_file_which_overrides_the_defaults(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("data: /somewhere\nlr: 0.01\nepochs: 7\nmodel_options: {base_channels: 8, depth: 3}\n"
                    "augment: {hflip: 0.0, crop_size: [64, 96]}\n")
    config = config_for("--config", str(path), "--lr", "0.005", "--model-option", "depth=2", "--out", "runs/x")
    assert config.lr == 0.005 and config.epochs == 7 and config.out == "runs/x"
    assert config.model_options == {"base_channels": 8, "depth": 2}  # one option changed, the other kept
    assert config.augment.hflip == 0.0 and config.augment.crop_size == (64, 96)
    assert config.augment.scale == TrainConfig(data="x").augment.scale  # not in the file: the default
    assert config.batch_size == TrainConfig(data="x").batch_size


def test_a_saved_config_yaml_reproduces_the_configuration(tmp_path):
    original = TrainConfig(data="/d", out="runs/a", loss="ce+dice", loss_weights={"dice": 0.5}, time_budget=1.5, epochs=None,
                           class_weights="median", schedule="cosine", grad_clip=1.0)
    write_config(original, tmp_path / "config.yaml")
    assert config_for("--config", str(tmp_path / "config.yaml")) == original
    assert config_for("--config", str(tmp_path / "config.yaml"), "--seed", "3").seed == 3


def test_time_budget_alone_means_no_epoch_limit():
    assert config_for("--data", "d", "--time-budget", "5").epochs is None
    assert config_for("--data", "d", "--time-budget", "5", "--epochs", "3").epochs == 3


def test_config_errors_are_one_clear_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("data: d\nlearning_rate: 0.1\n")
    assert main(["train", "--config", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "bad.yaml" in line and "learning_rate" in line
    assert main(["train", "--out", "x"]) == 2
    assert "no data folder" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="augment key"):
        TrainConfig.from_dict({"data": "d", "augment": {"flip": 1}})
    with pytest.raises(ConfigError, match="augment.long_side must be a positive integer, got 0"):
        TrainConfig.from_dict({"data": "d", "epochs": 1, "augment": {"long_side": 0}}).check()


def test_every_train_flag_reaches_the_config():
    """PLAIN and AUGMENT come from TrainConfig's and AugmentConfig's fields; a flag whose name is
    neither (nor one of the run's own flags) would be parsed and then dropped (issue 16)."""
    import argparse

    from pixelseg.cli import train as train_cli
    from pixelseg.engine.config import CHOICES

    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    own = {"help", "config", "resume", "overwrite", "quiet", "model_option", "loss_weight"}
    dests = {action.dest for action in parser._actions}
    assert dests - own <= set(train_cli.PLAIN) | set(train_cli.AUGMENT)
    for action in parser._actions:
        if action.dest in CHOICES and action.const is not None:  # a switch for one value (--binary: mode binary)
            assert action.const in CHOICES[action.dest]
        elif action.dest in CHOICES:
            assert tuple(action.choices) == CHOICES[action.dest]


def test_binary_mode_from_the_flag_or_the_file(tmp_path):
    assert config_for("--data", "d").mode == "multiclass"
    assert config_for("--data", "d", "--binary").mode == "binary"
    path = tmp_path / "binary.yaml"
    path.write_text("data: d\nmode: binary\n")
    assert config_for("--config", str(path)).mode == "binary"
    write_config(config_for("--data", "d", "--binary"), tmp_path / "config.yaml")
    assert "mode: binary" in (tmp_path / "config.yaml").read_text()
