"""The training loop on tiny generated scenes: determinism, schedules, stopping rules, outputs."""
import csv

import pytest
import torch

from pixelseg.data.folder import SegmentationFolder
from pixelseg.data.synthetic import generate_dataset
from pixelseg.engine.checkpoint import load_checkpoint
from pixelseg.engine.config import ConfigError, TrainConfig, load_config
from pixelseg.engine.trainer import class_weights, train
from pixelseg.errors import DataError, TrainingError

TIMES = ("seconds", "elapsed")  # the columns that differ between identical runs


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("scenes"), train=8, val=4, size=48, progress=False)


def tiny(data, out, **changes) -> TrainConfig:
    values = dict(data=str(data), out=str(out), model_options={"base_channels": 4, "depth": 2}, epochs=2, batch_size=4,
                  preview_images=2, device="cpu")
    return TrainConfig(**{**values, **changes})


def rows(run) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def weights(run, name="last.pt") -> dict:
    return load_checkpoint(run / name)["state_dict"]


def test_same_seed_same_metrics_and_weights(scenes, tmp_path):
    # Augmentation on (scale, flip, colour jitter) and shuffling: all of it must follow the seed.
    first = train(tiny(scenes, tmp_path / "a"), progress=False)
    second = train(tiny(scenes, tmp_path / "b"), progress=False)
    assert first == second
    strip = lambda r: {k: v for k, v in r.items() if k not in TIMES}  # noqa: E731
    assert [strip(r) for r in rows(tmp_path / "a")] == [strip(r) for r in rows(tmp_path / "b")]
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_run_folder_outputs(scenes, tmp_path):
    config = tiny(scenes, tmp_path / "run", optimizer="sgd", lr=0.05, schedule="cosine", grad_clip=1.0)
    best = train(config, progress=False)
    run = tmp_path / "run"
    for name in ("config.yaml", "best.pt", "last.pt", "metrics.csv", "curves.png", "predictions/epoch_001.png", "predictions/epoch_002.png"):
        assert (run / name).is_file(), name
    assert len(list((run / "tb").glob("events.out.tfevents.*"))) == 1
    assert load_config(run / "config.yaml") == config  # config.yaml reproduces the run's configuration
    table = rows(run)
    assert [int(r["epoch"]) for r in table] == [1, 2] and [int(r["step"]) for r in table] == [2, 4]
    # 8 images, batch 4: 2 steps an epoch, 4 in all; warm-up min(50, 4 // 5 + 1) = 1 step. The lr logged
    # is the last step's: step 1 -> progress 0 -> 0.05; step 3 -> progress 2/3 -> 0.05 (1 + cos(2π/3)) / 2.
    assert float(table[0]["lr"]) == pytest.approx(0.05)
    assert float(table[1]["lr"]) == pytest.approx(0.05 * 0.25)
    last, slim = load_checkpoint(run / "last.pt"), load_checkpoint(run / "best.pt")
    assert last["epoch"] == 2 and last["scheduler"] == {"step": 4} and len(last["rng"]) == 1 and "optimizer" in last
    assert "optimizer" not in slim and slim["metrics"]["miou"] == pytest.approx(best["miou"])
    assert best["miou"] == pytest.approx(max(float(r["val_miou"]) for r in table))


def test_gradient_clipping_bounds_every_step(scenes, tmp_path):
    # Plain SGD (no momentum, no decay): a step moves the weights by lr × the clipped gradient, so
    # with max norm 1e-2 two steps move them by at most 2 × lr × 1e-2 in all.
    config = tiny(scenes, tmp_path / "run", epochs=1, optimizer="sgd", momentum=0.0, weight_decay=0.0, lr=1.0, grad_clip=1e-2,
                  warmup_steps=0, schedule="constant", freeze_bn=True)
    torch.manual_seed(config.seed)
    import pixelseg

    start = pixelseg.create_model("unet", 5, **config.model_options).state_dict()
    train(config, progress=False)
    end = weights(tmp_path / "run")
    moved = torch.sqrt(sum(((end[k] - start[k]).double() ** 2).sum() for k in start if start[k].is_floating_point()))
    assert 0 < float(moved) <= 2e-2 * (1 + 1e-4)


def test_early_stopping_on_val_miou(scenes, tmp_path):
    # A learning rate too small to change anything and frozen BatchNorm: val mIoU never improves
    # after epoch 1, so patience 1 ends the run after epoch 2 of 6.
    train(tiny(scenes, tmp_path / "run", epochs=6, lr=1e-12, freeze_bn=True, patience=1), progress=False)
    assert [int(r["epoch"]) for r in rows(tmp_path / "run")] == [1, 2]


def test_time_budget_stops_within_the_first_epoch(scenes, tmp_path):
    # 0.0001 min = 6 ms, used up within a few steps of the 8 an epoch has (batch 1); the part-epoch
    # is validated and saved, and its validation (longer than 6 ms) leaves no time for a second one.
    train(tiny(scenes, tmp_path / "run", epochs=None, time_budget=0.0001, batch_size=1), progress=False)
    (row,) = rows(tmp_path / "run")
    assert row["epoch"] == "1" and 1 <= int(row["step"]) < 8
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(scenes, tmp_path, monkeypatch, capsys):
    import pixelseg.engine.trainer as trainer
    from pixelseg.cli import main

    real_build_loss = trainer.build_loss
    calls = {"train": 0}

    def poisoned_build_loss(*args, **kwargs):
        loss = real_build_loss(*args, **kwargs)

        def forward(logits, target):
            value = loss(logits, target)
            if torch.is_grad_enabled():  # a training step, not validation
                calls["train"] += 1
                if calls["train"] == 3:  # epoch 2, step 1 (2 steps an epoch)
                    return value * float("nan")
            return value

        return forward

    monkeypatch.setattr(trainer, "build_loss", lambda *a, **k: _Module(poisoned_build_loss(*a, **k)))
    run = tmp_path / "run"
    code = main(["train", "--data", str(scenes), "--out", str(run), "--epochs", "3", "--batch-size", "4", "--quiet", "--device", "cpu",
                 "--model-option", "base_channels=4", "--model-option", "depth=2"])
    assert code == 1  # a run that failed, not a usage error
    (message,) = capsys.readouterr().err.strip().splitlines()
    assert "loss became nan at epoch 2, step 1" in message and str(run / "last.pt") in message
    last = load_checkpoint(run / "last.pt")
    assert last["epoch"] == 1 and all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())
    assert [int(r["epoch"]) for r in rows(run)] == [1]


class _Module(torch.nn.Module):
    """Wraps a plain function as the trainer's loss module (it calls .to(device))."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, logits, target):
        return self.fn(logits, target)


def test_nan_in_the_first_epoch_says_no_checkpoint_was_written(scenes, tmp_path):
    with pytest.raises(TrainingError, match="no checkpoint was written yet"):
        train(tiny(scenes, tmp_path / "run", lr=1e30, optimizer="sgd", momentum=0.0, warmup_steps=0, epochs=3), progress=False)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_class_weights_from_masks_or_a_file(scenes, tmp_path):
    train_set = SegmentationFolder(scenes, "train")
    median = class_weights(tiny(scenes, tmp_path, class_weights="median"), train_set)
    inverse = class_weights(tiny(scenes, tmp_path, class_weights="inverse"), train_set)
    assert median.shape == inverse.shape == (5,) and (median > 0).all()
    assert float(median.median()) == pytest.approx(1.0)  # the median class gets 1
    (tmp_path / "w.txt").write_text("1, 2, 3, 4, 5\n")
    assert class_weights(tiny(scenes, tmp_path, class_weights=str(tmp_path / "w.txt")), train_set).tolist() == [1, 2, 3, 4, 5]
    (tmp_path / "w.txt").write_text("1 2\n")
    with pytest.raises(ConfigError, match="2 class weights, but the data has 5 classes"):
        class_weights(tiny(scenes, tmp_path, class_weights=str(tmp_path / "w.txt")), train_set)


def test_config_refuses_what_would_fail_later(scenes, tmp_path):
    with pytest.raises(ConfigError, match="epochs, time_budget"):
        tiny(scenes, tmp_path, epochs=None).check()
    with pytest.raises(ConfigError, match="optimizer must be one of adamw, sgd"):
        tiny(scenes, tmp_path, optimizer="adam").check()
    with pytest.raises(ConfigError, match="fp16 needs CUDA"):
        train(tiny(scenes, tmp_path / "run", precision="fp16"), progress=False)


def test_a_killed_write_of_any_kind_leaves_nothing_after_the_next_start(scenes, tmp_path):
    """kill -9 during a write leaves its temporary (no cleanup runs); the next run sweeps every kind:
    the names engine/checkpoint.py, engine/config.py and write_metrics give them (issue 16)."""
    run = tmp_path / "run"
    run.mkdir()
    killed = [".last.pt.0123abcd.tmp", ".best.pt.89abcdef.tmp", ".config.yaml.00ff00ff.tmp", ".metrics.csv.deadbeef.tmp"]
    for name in killed:
        (run / name).write_bytes(b"half a file")
    (run / ".notes.0123abcd.tmp").write_text("not ours")  # another program's: left alone
    train(tiny(scenes, run, epochs=1), progress=False)
    assert sorted(p.name for p in run.glob(".*")) == [".notes.0123abcd.tmp"]


def test_val_groups_validate_on_the_held_out_groups_only(tmp_path):
    """Ids `<group>_<n>`: holding out group B trains on A and C and validates on every B image."""
    import shutil

    from pixelseg.engine.distributed import DistInfo
    from pixelseg.engine.trainer import build_data

    source = generate_dataset(tmp_path / "scenes", train=6, val=3, size=32, progress=False)
    groups = {"train": ["A_0", "A_1", "B_0", "B_1", "C_0", "C_1"], "val": ["A_9", "B_9", "C_9"]}
    for split, names in groups.items():
        for kind, suffix in (("images", ".png"), ("masks", ".png")):
            for path, name in zip(sorted((source / kind / split).iterdir()), names):
                shutil.move(path, path.with_name(name + suffix))
    data = build_data(tiny(source, tmp_path / "run", val_groups=["B"]), DistInfo())
    assert [s.id for s in data.train_set.samples] == ["A_0", "A_1", "C_0", "C_1"]
    assert [s.id for s in data.val_set.samples] == ["B_0", "B_1", "B_9"]
    train(tiny(source, tmp_path / "run", val_groups=["B"], epochs=1), progress=False)
    assert load_config(tmp_path / "run" / "config.yaml").val_groups == ["B"]  # a --resume holds the same groups out


# ---- binary mode: one output map --------------------------------------------------------------


def test_a_binary_model_learns_until_its_iou_beats_a_trivial_mask(tmp_path):
    from tests.inference.helpers import square_scenes

    data = square_scenes(tmp_path / "squares")
    val = SegmentationFolder(data, "val")
    share = float(sum(val.load(i)[1].sum() for i in range(len(val))) / sum(val.load(i)[1].size for i in range(len(val))))
    best = train(tiny(data, tmp_path / "run", mode="binary", epochs=4, lr=0.01), progress=False)
    # The trivial masks: all background (square IoU 0), all square (IoU = the square's share of the pixels).
    assert best["per_class_iou"]["square"] > max(0.5, 2 * share)
    assert list(best["per_class_iou"]) == ["background", "square"]          # two rows, as a two-class model's
    checkpoint = load_checkpoint(tmp_path / "run" / "best.pt")
    assert checkpoint["mode"] == "binary" and checkpoint["model"]["num_classes"] == 1
    assert checkpoint["classes"] == ["background", "square"] and checkpoint["config"]["mode"] == "binary"
    assert checkpoint["state_dict"]["head.weight"].shape[0] == 1             # one output map


def test_binary_mode_on_more_classes_says_how_many(scenes, tmp_path):
    with pytest.raises(ConfigError, match=r"two classes, background and one foreground; .*classes.txt has 5: background, disc"):
        train(tiny(scenes, tmp_path / "run", mode="binary"), progress=False)
    assert not (tmp_path / "run").exists()                                   # refused before the run folder is made
    with pytest.raises(ConfigError, match="mode must be one of multiclass, binary"):
        tiny(scenes, tmp_path, mode="sigmoid").check()


def test_a_binary_run_resumes_as_binary_only(tmp_path):
    from tests.inference.helpers import square_scenes

    data = square_scenes(tmp_path / "squares", train=4, val=2)
    train(tiny(data, tmp_path / "run", mode="binary", epochs=1), progress=False)
    with pytest.raises(ConfigError, match="trains a binary model; it cannot continue as a multiclass one"):
        train(tiny(data, tmp_path / "run", epochs=2), progress=False, resume=True)
    train(tiny(data, tmp_path / "run", mode="binary", epochs=2), progress=False, resume=True)
    assert [int(r["epoch"]) for r in rows(tmp_path / "run")] == [1, 2]


def test_init_fine_tunes_from_a_checkpoints_architecture_and_weights(scenes, tmp_path):
    train(tiny(scenes, tmp_path / "first", model_options={"base_channels": 6, "depth": 2}), progress=False)
    start = weights(tmp_path / "first", "best.pt")
    # The architecture is the checkpoint's (not the config's 4 channels), and with a learning rate of
    # ~0 the weights stay where they started: the run began from them, not from a new initialisation.
    config = tiny(scenes, tmp_path / "tuned", init=str(tmp_path / "first" / "best.pt"), epochs=1, lr=1e-12, warmup_steps=0).check()
    assert (config.model, config.model_options) == ("unet", {"base_channels": 6, "depth": 2})
    train(config, progress=False)
    tuned = weights(tmp_path / "tuned")
    kernels = [k for k in start if k.endswith("weight") and start[k].ndim == 4]
    assert kernels and all(torch.allclose(tuned[k], start[k], atol=1e-6) for k in kernels)
    train(tiny(scenes, tmp_path / "fresh", model_options={"base_channels": 6, "depth": 2}, epochs=1, lr=1e-12, warmup_steps=0, seed=1), progress=False)
    assert not all(torch.allclose(weights(tmp_path / "fresh")[k], start[k], atol=1e-3) for k in kernels)


def test_init_refuses_another_mode_or_other_classes(scenes, tmp_path):
    train(tiny(scenes, tmp_path / "first", epochs=1), progress=False)
    with pytest.raises(ConfigError, match="--init .*: a multiclass model; this run is binary"):
        tiny(scenes, tmp_path / "b", init=str(tmp_path / "first" / "best.pt"), mode="binary").check()
    with pytest.raises(ConfigError, match="--init: nosuchmodel"):
        tiny(scenes, tmp_path / "c", init="nosuchmodel").check()
    other = generate_dataset(tmp_path / "other", train=4, val=2, size=48, progress=False)
    (other / "classes.txt").write_text("\n".join(f"class{i}" for i in range(len((other / "classes.txt").read_text().split()))) + "\n")
    with pytest.raises(DataError, match="fine-tuning keeps the model's classes"):
        train(tiny(other, tmp_path / "d", init=str(tmp_path / "first" / "best.pt"), epochs=1), progress=False)
