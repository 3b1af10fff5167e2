"""Joint augmentation: masks only resampled nearest, padding 255, image and mask stay aligned."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelseg.data.folder import SegmentationFolder
from pixelseg.data.transforms import AugmentConfig, JointTransform, RandomScale, train_transform

CONFIGS = [
    AugmentConfig(crop_size=(40, 56), scale=(0.5, 2.0), hflip=0.5, rotation=25, color_jitter=0.3),
    AugmentConfig(crop_size=(90, 90), scale=(1.0, 1.0), hflip=0.5, vflip=0.5, rotation=0, color_jitter=0.0),  # crop > image: padding
    AugmentConfig(crop_size=None, scale=(0.3, 0.6), hflip=1.0, rotation=10, color_jitter=0.0),  # downscaling
    AugmentConfig(crop_size=(40, 56), scale=(0.5, 2.0), hflip=0.5, class_aware_crop=1.0, color_jitter=0.0),
    AugmentConfig(crop_size=(90, 90), scale=(1.0, 1.0), class_aware_crop=0.5, color_jitter=0.0),  # crop > image
]


def block_mask(height=48, width=64, block=8, values=(0, 1, 2, 3, 4), seed=0) -> np.ndarray:
    """Random class per block×block tile: big regions, so region interiors survive resampling."""
    rng = np.random.default_rng(seed)
    tiles = rng.choice(values, size=(-(-height // block), -(-width // block))).astype(np.uint8)
    return np.kron(tiles, np.ones((block, block), np.uint8))[:height, :width]


def encode(mask: np.ndarray) -> torch.Tensor:
    """An image whose pixel values encode the mask: 30 + 40 × class (0 is left for padding)."""
    return torch.from_numpy(30 + 40 * mask.astype(np.int64)).to(torch.uint8).expand(3, -1, -1).contiguous()


def interior(mask: np.ndarray, radius: int = 2) -> np.ndarray:
    """Pixels whose (2r+1)² neighbourhood holds one value: there bilinear and nearest must agree.
    The outer `radius` pixels never count: what lay beyond the crop may have blended into them."""
    padded = np.pad(mask.astype(int), radius, constant_values=-1)
    same = np.ones(mask.shape, bool)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            same &= padded[dy : dy + mask.shape[0], dx : dx + mask.shape[1]] == mask
    return same


@pytest.mark.parametrize("config", CONFIGS)
def test_mask_values_stay_in_the_original_set_plus_ignore(config):
    torch.manual_seed(0)
    transform = train_transform(config)
    mask = block_mask(values=(0, 3, 7), block=3)  # small blocks: lots of edges to interpolate across
    image = torch.randint(0, 256, (3, 48, 64), dtype=torch.uint8)
    for _ in range(20):
        out_image, out_mask = transform(image, torch.from_numpy(mask))
        assert type(out_image) is torch.Tensor and type(out_mask) is torch.Tensor
        assert out_image.dtype == torch.uint8 and out_mask.dtype == torch.uint8
        assert out_image.shape[-2:] == out_mask.shape
        if config.crop_size:
            assert tuple(out_mask.shape) == config.crop_size
        assert set(out_mask.unique().tolist()) <= {0, 3, 7, 255}


def test_padding_is_255_in_masks_and_0_in_images():
    transform = train_transform(AugmentConfig(crop_size=(70, 80), scale=(1.0, 1.0), hflip=0, color_jitter=0))
    mask = block_mask(values=(0, 1))  # no 255 in it: every 255 out is padding
    image = encode(mask)
    for _ in range(5):
        out_image, out_mask = transform(image, torch.from_numpy(mask))
        pad = out_mask == 255
        assert pad.sum() == 70 * 80 - 48 * 64  # exactly the padded area
        assert (out_image[:, pad] == 0).all() and (out_image[:, ~pad] > 0).all()


def test_rotation_corners_are_255():
    transform = train_transform(AugmentConfig(scale=(1.0, 1.0), hflip=0, rotation=30, color_jitter=0))
    torch.manual_seed(1)
    out_image, out_mask = transform(encode(block_mask(values=(0, 1))), torch.from_numpy(block_mask(values=(0, 1))))
    # Some angle in ±30° other than ~0 leaves uncovered corners; with seed 1 it does.
    assert out_mask[0, 0] == 255 and out_image[:, 0, 0].tolist() == [0, 0, 0]


@pytest.mark.parametrize("config", CONFIGS)
def test_image_and_mask_stay_aligned(config):
    """The image encodes the mask; after any random pipeline the two must still agree pixel by pixel
    away from region edges (where bilinear images blend classes), and padding must agree too."""
    config = AugmentConfig(**{**config.__dict__, "color_jitter": 0.0})  # jitter would change the code
    torch.manual_seed(0)
    transform = train_transform(config)
    for seed in range(10):
        mask = block_mask(192, 256, block=32, seed=seed)
        out_image, out_mask = transform(encode(mask), torch.from_numpy(mask))
        out_mask, decoded = out_mask.numpy(), out_image[0].numpy().astype(int)
        core = interior(out_mask)
        labelled = core & (out_mask != 255)
        np.testing.assert_array_equal(np.rint((decoded[labelled] - 30) / 40), out_mask[labelled])
        assert (decoded[core & (out_mask == 255)] == 0).all()
        assert labelled.sum() > 0.25 * out_mask.size  # the comparison covered much of the picture


def test_colour_jitter_changes_the_image_only():
    transform = train_transform(AugmentConfig(scale=(1.0, 1.0), hflip=0, color_jitter=0.5))
    mask = torch.from_numpy(block_mask())
    image = torch.randint(0, 256, (3, 48, 64), dtype=torch.uint8)
    torch.manual_seed(0)
    out_image, out_mask = transform(image, mask)
    assert torch.equal(out_mask, mask) and not torch.equal(out_image, image)


def centroid(weights: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0 : weights.shape[0], 0 : weights.shape[1]]
    return np.array([(weights * xs).sum(), (weights * ys).sum()]) / weights.sum()


def test_rescaled_mask_is_centred_like_its_image():
    """Masks resampled with "nearest-exact" sit where the bilinear image is; torch's legacy
    "nearest" would shift them ~0.4 px towards the bottom right at most scales."""
    ys, xs = np.mgrid[0:60, 0:60] + 0.5
    disc = ((xs - 27.3) ** 2 + (ys - 31.1) ** 2 <= 15**2).astype(np.uint8)
    offsets = []
    for scale in (0.55, 0.62, 0.7, 0.8, 0.9, 1.15, 1.3, 1.45, 1.7, 1.9):
        pipeline = JointTransform(RandomScale(scale, scale))
        out_image, out_mask = pipeline(torch.from_numpy(disc * 200).expand(3, -1, -1).contiguous(), torch.from_numpy(disc))
        offsets.append(centroid(out_mask.numpy().astype(float)) - centroid(out_image[0].numpy() / 200.0))
    offsets = np.abs(np.array(offsets))
    assert offsets.max() < 0.3 and offsets.mean() < 0.12, offsets


def test_config_lists_from_a_config_file_work():
    transform = train_transform(AugmentConfig(crop_size=[16, 16], scale=[1.0, 1.0], hflip=0.0, color_jitter=0.0))
    mask = torch.from_numpy(block_mask())
    out_image, out_mask = transform(encode(mask.numpy()), mask)
    assert out_mask.shape == (16, 16)


def test_folder_with_augmentation(make_data_folder):
    mask = block_mask(values=(0, 1))
    root = make_data_folder({"train": {"a": (encode(mask).permute(1, 2, 0).numpy(), mask)}})
    dataset = SegmentationFolder(root, "train", transform=train_transform(AugmentConfig(crop_size=(32, 32), rotation=10)))
    image, target = dataset[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert target.dtype == torch.int64 and set(target.unique().tolist()) <= {0, 1, 255}
    assert dataset.load(0)[1] is dataset.load(0)[1] and np.array_equal(dataset.load(0)[1], mask)  # cache untouched


def test_long_side_scales_every_image_to_the_same_longer_side():
    """With long_side, a 40×90 and a 300×120 image both come out with a longer side of
    long_side × the drawn factor, and their masks with them."""
    torch.manual_seed(0)
    for height, width in ((40, 90), (300, 120), (64, 64)):
        for _ in range(5):
            pipeline = JointTransform(RandomScale(0.8, 1.25, long_side=100))
            image = torch.zeros(3, height, width, dtype=torch.uint8)
            out_image, out_mask = pipeline(image, torch.zeros(height, width, dtype=torch.uint8))
            assert out_image.shape[1:] == out_mask.shape
            assert 80 <= max(out_mask.shape) <= 125, (height, width, out_mask.shape)
            # the aspect ratio is kept (to rounding)
            assert abs(out_mask.shape[0] / out_mask.shape[1] - height / width) < 0.05
    fixed = JointTransform(RandomScale(1.0, 1.0, long_side=50))
    _, out_mask = fixed(torch.zeros(3, 40, 200, dtype=torch.uint8), torch.zeros(40, 200, dtype=torch.uint8))
    assert tuple(out_mask.shape) == (10, 50)


def test_long_side_alone_builds_a_pipeline():
    config = AugmentConfig(scale=(1.0, 1.0), long_side=32, hflip=0.0, color_jitter=0.0)
    _, out_mask = train_transform(config)(torch.zeros(3, 64, 128, dtype=torch.uint8), torch.zeros(64, 128, dtype=torch.uint8))
    assert tuple(out_mask.shape) == (16, 32)


def test_class_aware_crops_always_hold_the_rare_class():
    # One 3×3 patch of class 9 in a 120×160 mask of 0s: a 24×32 random crop holds it about 1 time in 200;
    # a class-aware crop with p = 1 draws 9 half of the time, and then always holds it (and its image too).
    mask = np.zeros((120, 160), np.uint8)
    mask[100:103, 7:10] = 9
    transform = train_transform(AugmentConfig(crop_size=(24, 32), scale=(1.0, 1.0), hflip=0, color_jitter=0, class_aware_crop=1.0))
    torch.manual_seed(0)
    held = 0
    for _ in range(400):
        out_image, out_mask = transform(encode(mask), torch.from_numpy(mask))
        assert tuple(out_mask.shape) == (24, 32) and 255 not in out_mask  # inside the image: no padding
        if (out_mask == 9).any():
            held += 1
            assert ((out_image[0] == 30 + 40 * 9) == (out_mask == 9)).all()
    assert 160 <= held <= 240  # class 9 drawn in about half the crops (0 or 9, uniformly)
    plain = train_transform(AugmentConfig(crop_size=(24, 32), scale=(1.0, 1.0), hflip=0, color_jitter=0))
    assert sum(bool((plain(encode(mask), torch.from_numpy(mask))[1] == 9).any()) for _ in range(400)) < 20


def test_class_aware_crop_of_a_small_image_pads_and_keeps_every_pixel():
    mask = block_mask(30, 40, block=5, values=(1, 2, 3))
    transform = train_transform(AugmentConfig(crop_size=(50, 60), scale=(1.0, 1.0), hflip=0, color_jitter=0, class_aware_crop=1.0))
    for seed in range(20):
        torch.manual_seed(seed)
        _, out_mask = transform(encode(mask), torch.from_numpy(mask))
        assert int((out_mask != 255).sum()) == 30 * 40  # the whole image is inside the padded crop
