"""Distillation: the soft cross-entropy, checkpoint and MediaPipe teachers, and their mistakes named."""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from pixelseg.data.folder import IMAGENET_MEAN, IMAGENET_STD, normalize
from pixelseg.data.synthetic import generate_dataset
from pixelseg.engine.config import TrainConfig
from pixelseg.engine.distill import MediaPipeTeacher, check_teacher, distillation_loss, load_teacher
from pixelseg.engine.trainer import train
from pixelseg.errors import UsageError
from tests.inference.helpers import tiny_checkpoint


def test_the_loss_is_the_cross_entropy_against_the_teacher():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]]).T.reshape(1, 2, 1, 2)   # pixel 1: p = (1/2, 1/2), pixel 2: p = (3/4, 1/4)
    teacher = torch.tensor([[0.5, 0.5], [1.0, 0.0]]).T.reshape(1, 2, 1, 2)
    expected = (math.log(2.0) + -math.log(0.75)) / 2
    assert distillation_loss(logits, teacher).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("seed", range(10))
def test_the_student_is_pulled_to_the_teachers_probabilities(seed):
    """The gradient vanishes where the student's softmax equals the teacher's, and the loss is lowest there."""
    generator = torch.Generator().manual_seed(seed)
    teacher = torch.rand(2, 3, 4, 5, generator=generator).softmax(1)
    matching = teacher.log().requires_grad_()
    distillation_loss(matching, teacher).backward()
    assert matching.grad.abs().max() < 1e-6
    other = (teacher.log() + torch.randn(2, 3, 4, 5, generator=generator)).detach()
    assert distillation_loss(other, teacher) > distillation_loss(teacher.log(), teacher)


def test_a_checkpoint_teacher_gives_its_softmax_and_must_share_the_classes(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "teacher.pt", classes=["background", "square", "disc"])
    teacher = load_teacher(str(ckpt), ["background", "square", "disc"], IMAGENET_MEAN, IMAGENET_STD, torch.device("cpu"))
    probabilities = teacher(torch.randn(2, 3, 16, 20))
    assert probabilities.shape == (2, 3, 16, 20)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(2, 16, 20))
    with pytest.raises(UsageError, match=r"--teacher .*teacher.pt: its classes .* differ from the data's \['a', 'b'\]"):
        load_teacher(str(ckpt), ["a", "b"], IMAGENET_MEAN, IMAGENET_STD, torch.device("cpu"))


def test_training_with_a_teacher_runs_and_changes_the_loss(tmp_path):
    data = generate_dataset(tmp_path / "scenes", train=8, val=2, size=32, progress=False)
    classes = (data / "classes.txt").read_text().split()
    teacher = tiny_checkpoint(tmp_path / "teacher.pt", classes=classes, seed=1)
    base = dict(data=str(data), model_options={"base_channels": 4, "depth": 2}, epochs=1, batch_size=4, preview_images=0,
                device="cpu", augment={"hflip": 0.0, "color_jitter": 0.0, "scale": [1.0, 1.0]})
    rows = {}
    for name, extra in (("plain", {}), ("distilled", {"teacher": str(teacher), "distill_weight": 2.0})):
        config = TrainConfig.from_dict({**base, **extra, "out": str(tmp_path / name)}).check()
        train(config, progress=False)
        rows[name] = (tmp_path / name / "metrics.csv").read_text().splitlines()[1].split(",")[2]   # train_loss
    # Same seed, same batches: only the teacher's term differs, and an untrained teacher is near uniform,
    # so its cross-entropy (about log 3 per pixel, times 2) shows in the training loss.
    assert float(rows["distilled"]) > float(rows["plain"]) + 1.0


def test_an_unknown_teacher_names_the_choices():
    with pytest.raises(UsageError, match=r"--teacher nosuchmodel: .*person.*mediapipe"):
        check_teacher("nosuchmodel")


@pytest.mark.parametrize("missing", ["ai_edge_litert", "mediapipe"])
def test_a_teacher_that_is_not_installed_says_how_to_install_it(monkeypatch, missing):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))
    with pytest.raises(UsageError, match=r"--teacher mediapipe: .*pip install ai-edge-litert && pip install --no-deps mediapipe==0.10.14"):
        check_teacher("mediapipe")


def test_the_mediapipe_teacher_needs_a_person_class():
    with pytest.raises(UsageError, match="two classes, one named 'person'"):
        MediaPipeTeacher("mediapipe", ["background", "cat"], IMAGENET_MEAN, IMAGENET_STD)


@pytest.mark.skipif(importlib.util.find_spec("ai_edge_litert") is None or importlib.util.find_spec("mediapipe") is None,
                    reason="the MediaPipe teacher needs ai-edge-litert and the mediapipe wheel (make bench-deps)")
def test_the_mediapipe_teacher_finds_the_astronaut():
    skimage_data = pytest.importorskip("skimage.data")
    photo = torch.from_numpy(skimage_data.astronaut()).permute(2, 0, 1)              # (3, 512, 512) uint8
    teacher = load_teacher("mediapipe", ["background", "person"], IMAGENET_MEAN, IMAGENET_STD, torch.device("cpu"))
    p = teacher(normalize(photo)[None])[0, 1].numpy()                                  # (512, 512) P(person)
    assert p[180:260, 200:280].mean() > 0.9      # her face and helmet
    assert p[0:60, 0:60].mean() < 0.1            # the top-left corner: the shuttle's cabin wall
    assert np.isfinite(p).all()


def test_a_teacher_with_its_own_normalisation_sees_the_same_pixels(tmp_path):
    """The tiny checkpoint normalises with mean 0.5, std 0.25; the student's batch is ImageNet-normalised."""
    from pixelseg.engine.checkpoint import load_checkpoint, model_from_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "teacher.pt", classes=["background", "square", "disc"])
    teacher = load_teacher(str(ckpt), ["background", "square", "disc"], IMAGENET_MEAN, IMAGENET_STD, torch.device("cpu"))
    pixels = torch.randint(0, 256, (1, 3, 16, 20), dtype=torch.uint8)
    expected = model_from_checkpoint(load_checkpoint(ckpt))(normalize(pixels, (0.5,) * 3, (0.25,) * 3)).softmax(1)
    torch.testing.assert_close(teacher(normalize(pixels)), expected, rtol=1e-4, atol=1e-5)


def test_a_binary_student_is_distilled_as_the_two_class_softmax_of_0_and_z():
    torch.manual_seed(0)
    z = torch.randn(2, 1, 6, 7) * 4                                           # a binary student's one map
    teacher = torch.rand(2, 1, 6, 7)
    teacher = torch.cat([1 - teacher, teacher], 1)                            # (B, 2, H, W) probabilities
    two_maps = torch.cat([torch.zeros_like(z), z], 1)
    torch.testing.assert_close(distillation_loss(z, teacher), distillation_loss(two_maps, teacher))
