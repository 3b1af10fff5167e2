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


def test_size_multiple_rounds_the_network_input_and_restores_the_size(tmp_path):
    checkpoint = tiny_checkpoint(tmp_path / "m.pt")
    image = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    rounded = Predictor.from_checkpoint(checkpoint, device="cpu", input_size=40, size_multiple=8)
    out = rounded.network(image[None])
    assert tuple(out.small.shape[-2:]) == (32, 40)              # 30×40 by the aspect, 30 rounded to 32
    assert rounded.target_probability(image, 1).shape == (48, 64)
    plain = Predictor.from_checkpoint(checkpoint, device="cpu", input_size=40)
    assert tuple(plain.network(image[None]).small.shape[-2:]) == (30, 40)
    with pytest.raises(PixelsegError, match="size_multiple"):
        Predictor.from_checkpoint(checkpoint, device="cpu", size_multiple=-8)


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


# ---- binary models: one output map -------------------------------------------------------------


def twin_models(seed: int = 0):
    """A two-class U-Net and a binary U-Net that is the same network with one map, z = logit₁ - logit₀
    (the head's two rows subtracted): the sigmoid of one must be the softmax of the other."""
    import pixelseg

    torch.manual_seed(seed)
    two = pixelseg.create_model("unet", 2, base_channels=4, depth=2).eval()
    one = pixelseg.create_model("unet", 1, base_channels=4, depth=2).eval()
    state = two.state_dict()
    state["head.weight"] = state["head.weight"][1:] - state["head.weight"][:1]
    state["head.bias"] = state["head.bias"][1:] - state["head.bias"][:1]
    one.load_state_dict(state)
    return two, one


@pytest.mark.parametrize("options", [{}, {"flip": True}, {"window": (24, 24)}, {"input_size": 32}, {"refine": "guided"}],
                         ids=["plain", "flip", "window", "input-size", "guided"])
def test_sigmoid_and_two_class_softmax_agree_on_twin_models(images, options):
    two, one = twin_models()
    classes = ["background", "thing"]
    softmax = Predictor(two, classes, (0.5,) * 3, (0.25,) * 3, "cpu", **options)
    sigmoid = Predictor(one, classes, (0.5,) * 3, (0.25,) * 3, "cpu", **options)
    assert (softmax.mode, sigmoid.mode) == ("multiclass", "binary")
    for image in images[:2]:
        z = sigmoid.logits(image)                                                  # (1, H, W)
        assert z.shape == (1, *image.shape[:2])
        torch.testing.assert_close(sigmoid.predict_proba(image), softmax.predict_proba(image), atol=1e-5, rtol=0)
        clear = (z[0].abs() > 1e-4).numpy()                                       # away from a tie, where rounding may decide
        assert clear.mean() > 0.99
        assert np.array_equal(sigmoid.predict(image)[clear], softmax.predict(image)[clear])


def test_a_binary_threshold_and_its_refusals(tmp_path, images):
    from pixelseg.engine.checkpoint import atomic_save, checkpoint_payload, load_checkpoint

    _, one = twin_models(1)
    path = atomic_save(checkpoint_payload(one, ["background", "thing"], (0.5,) * 3, (0.25,) * 3), tmp_path / "binary.pt")
    assert load_checkpoint(path)["mode"] == "binary"
    plain, strict = Predictor.from_checkpoint(path, "cpu"), Predictor.from_checkpoint(path, "cpu", threshold=0.8)
    sigmoid = plain.logits(images[0])[0].sigmoid()
    assert np.array_equal(strict.predict(images[0]), (sigmoid > 0.8).numpy().astype(np.uint8))
    assert np.array_equal(plain.predict_batch(images[:3])[0], plain.predict(images[0]))
    with pytest.raises(PixelsegError, match=r"--threshold: threshold must be a probability in \[0, 1\], got 2"):
        Predictor.from_checkpoint(path, "cpu", threshold=2.0)
    multiclass = tiny_checkpoint(tmp_path / "m.pt")
    with pytest.raises(PixelsegError, match="--threshold 0.5: this model is multiclass \\(3 classes"):
        Predictor.from_checkpoint(multiclass, "cpu", threshold=0.5)
    # a checkpoint whose recorded mode contradicts its model is refused, one written before modes is multiclass
    checkpoint = load_checkpoint(path)
    atomic_save({**checkpoint, "mode": "multiclass"}, tmp_path / "contradiction.pt")
    with pytest.raises(PixelsegError, match="records mode 'multiclass' but its model has 1 output map "):
        Predictor.from_checkpoint(tmp_path / "contradiction.pt", "cpu")
    old = load_checkpoint(multiclass)
    del old["mode"]
    atomic_save(old, tmp_path / "old.pt")
    assert Predictor.from_checkpoint(tmp_path / "old.pt", "cpu").mode == "multiclass"


def test_target_probability_is_the_class_probability_where_nothing_is_resized(predictor, images):
    """The effects' fast path (only the target's map brought back) against the full path, at the network's size."""
    for image in images[:2]:
        full = predictor.predict_proba(image)                                        # (C, H, W)
        for target in (0, 1, 2):
            torch.testing.assert_close(torch.from_numpy(predictor.target_probability(image, target)), full[target], atol=1e-6, rtol=0)
        torch.testing.assert_close(torch.from_numpy(predictor.target_probability(image, [1, 2])), full[1] + full[2], atol=1e-6, rtol=0)


@pytest.mark.parametrize("binary", [False, True], ids=["two-class", "binary"])
def test_guided_target_probability_equals_the_full_path_for_two_classes(images, binary):
    """The guided filter is linear and the two maps sum to 1, so filtering P(target) alone gives
    what filtering both and normalising gives: the refined matte is unchanged by the fast path."""
    two, one = twin_models(2)
    runtime = Predictor(one if binary else two, ["background", "thing"], (0.5,) * 3, (0.25,) * 3, "cpu", input_size=32, refine="guided")
    for image in images[:2]:
        fast = torch.from_numpy(runtime.target_probability(image, 1))
        assert fast.shape == image.shape[:2] and 0 <= fast.min() and fast.max() <= 1
        torch.testing.assert_close(fast, runtime.predict_proba(image)[1], atol=1e-4, rtol=0)


def test_resized_target_probability_keeps_the_mask_and_batches_like_single_images(images):
    """With a plain resize the fast path resizes the probability instead of the logits: the same
    mask away from ties, values in [0, 1], and a batch equal to its images one by one."""
    two, _ = twin_models(3)
    runtime = Predictor(two, ["background", "thing"], (0.5,) * 3, (0.25,) * 3, "cpu", input_size=32)
    rng = np.random.default_rng(4)
    for _ in range(10):
        image = rng.integers(0, 256, (int(rng.integers(40, 120)), int(rng.integers(40, 120)), 3), dtype=np.uint8)
        fast = runtime.target_probability(image, 1)
        full = runtime.predict_proba(image)[1].numpy()
        assert fast.shape == image.shape[:2] and fast.min() >= 0 and fast.max() <= 1
        clear = np.abs(full - 0.5) > 0.02
        assert np.array_equal(fast[clear] > 0.5, full[clear] > 0.5)
        assert np.abs(fast - full).max() < 0.1
    same = [images[0], images[2], images[3]]
    batch = runtime.target_probability_batch(same, 1)
    for image, p in zip(same, batch):
        torch.testing.assert_close(p, torch.from_numpy(runtime.target_probability(image, 1)), atol=1e-6, rtol=0)


def test_flip_tta_on_a_flip_symmetric_image():
    """On a mirror-symmetric image, flip TTA gives a mirror-symmetric answer whatever the model
    (the average of f(x) and its mirror), and for a model whose every kernel is mirror-symmetric
    (flip-equivariant, on sides its pooling divides) exactly the plain prediction; through the
    Predictor's real path (normalise, average, back to the image's size)."""
    import pixelseg

    rng = np.random.default_rng(6)
    half = rng.integers(0, 256, (48, 32, 3), dtype=np.uint8)
    image = np.concatenate([half, half[:, ::-1]], axis=1)                           # (48, 64, 3), mirror-symmetric
    torch.manual_seed(5)
    model = pixelseg.create_model("unet", 3, base_channels=8, depth=2, upsample="bilinear").eval()

    def predictors():
        return (Predictor(model, CLASSES, (0.5,) * 3, (0.25,) * 3, "cpu"), Predictor(model, CLASSES, (0.5,) * 3, (0.25,) * 3, "cpu", flip=True))

    plain, flipped = predictors()
    assert not torch.allclose(plain.logits(image), plain.logits(image).flip(-1), atol=1e-3)   # the model alone is not symmetric
    torch.testing.assert_close(flipped.logits(image), flipped.logits(image).flip(-1), atol=1e-5, rtol=0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                module.weight.copy_((module.weight + module.weight.flip(-1)) / 2)
    plain, flipped = predictors()
    torch.testing.assert_close(flipped.logits(image), plain.logits(image), atol=1e-5, rtol=0)
