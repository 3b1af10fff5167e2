import numpy as np
import pytest
import torch

from pixelseg.errors import PixelsegError
from pixelseg.inference.predictor import Predictor, group_by_size
from tests.inference.helpers import CLASSES, tiny_checkpoint


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return Predictor.from_checkpoint(tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.pt"), device="cpu")


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(40, 52, 3), (33, 61, 3), (40, 52, 3), (40, 52, 3)]]


def test_output_is_at_the_image_size_with_probabilities(predictor, images):
    probabilities = predictor.predict_proba(images[1])
    assert probabilities.shape == (len(CLASSES), 33, 61)
    assert torch.allclose(probabilities.sum(0), torch.ones(33, 61), atol=1e-5)
    mask = predictor.predict(images[1])
    assert mask.shape == (33, 61) and mask.dtype == np.uint8
    assert np.array_equal(mask, probabilities.argmax(0).numpy())


def test_batches_give_the_same_logits_as_one_by_one(predictor, images):
    batched = predictor.logits_many(images, batch_size=2)
    for image, logits in zip(images, batched):
        assert torch.allclose(logits, predictor.logits(image), atol=1e-5)
    assert [m.shape for m in predictor.predict_batch(images, batch_size=3)] == [im.shape[:2] for im in images]


def test_group_by_size_keeps_groups_within_the_batch_size():
    shapes = [(4, 4), (5, 5), (4, 4), (4, 4), (5, 5), (4, 4)]
    assert group_by_size(shapes, 2) == [[0, 2], [3, 5], [1, 4]]
    assert group_by_size(shapes, 1) == [[0], [2], [3], [5], [1], [4]]


def test_max_size_slides_windows_only_over_large_images(predictor):
    predictor.max_size, predictor.window = 48, None
    try:
        assert predictor.window_for(40, 48) is None
        assert predictor.window_for(40, 49) == (48, 48)
        predictor.window = (32, 40)
        assert predictor.window_for(100, 20) == (32, 40)
        image = np.random.default_rng(1).integers(0, 256, (70, 90, 3), dtype=np.uint8)
        assert predictor.predict(image).shape == (70, 90)
    finally:
        predictor.max_size = predictor.window = None


def test_input_size_runs_smaller_and_restores_the_size(predictor):
    predictor.input_size = 32
    try:
        image = np.random.default_rng(2).integers(0, 256, (45, 90, 3), dtype=np.uint8)
        assert predictor.logits(image).shape == (len(CLASSES), 45, 90)
    finally:
        predictor.input_size = None


def test_flip_and_bf16_run(tmp_path):
    path = tiny_checkpoint(tmp_path / "m.pt")
    image = np.random.default_rng(3).integers(0, 256, (36, 44, 3), dtype=np.uint8)
    flipped = Predictor.from_checkpoint(path, device="cpu", flip=True).predict(image)
    bf16 = Predictor.from_checkpoint(path, device="cpu", precision="bf16").logits(image)
    assert flipped.shape == (36, 44) and bf16.dtype == torch.float32 and bf16.shape == (3, 36, 44)


def test_class_index_by_name_or_id_and_a_clear_error(predictor):
    assert predictor.class_index("sky") == 2 and predictor.class_index("1") == 1 and predictor.class_index(0) == 0
    with pytest.raises(PixelsegError, match=r"unknown class 'dog'.*0=background, 1=person, 2=sky"):
        predictor.class_index("dog")
    with pytest.raises(PixelsegError, match="unknown class '3'"):
        predictor.class_index("3")
