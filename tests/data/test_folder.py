"""SegmentationFolder and its readers: image modes, EXIF, and every bad input as a DataError naming the file."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from pixelseg.data.folder import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SegmentationFolder,
    list_samples,
    load_image,
    load_mask,
    normalize,
    read_classes,
)
from pixelseg.errors import DataError


def blocks(height=8, width=12) -> np.ndarray:
    """A distinctive RGB picture: every pixel different, so any flip or rotation shows."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs * 20, ys * 30, (xs + ys) * 5], axis=-1).astype(np.uint8)


def save(image: Image.Image, path, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def test_item_is_normalised_float_image_and_long_mask(make_data_folder):
    image = blocks()
    mask = (np.arange(96).reshape(8, 12) % 3).astype(np.uint8)
    mask[0, 0] = 255
    root = make_data_folder({"train": {"a": (image, mask)}}, classes=("bg", "x", "y"))
    dataset = SegmentationFolder(root, "train")
    assert len(dataset) == 1 and dataset.num_classes == 3 and dataset.classes == ["bg", "x", "y"]
    x, y = dataset[0]
    assert x.dtype == torch.float32 and x.shape == (3, 8, 12)
    assert y.dtype == torch.int64 and y.shape == (8, 12)
    assert torch.equal(y, torch.from_numpy(mask).long())
    expected = (torch.from_numpy(image).permute(2, 0, 1).float() / 255 - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
    assert torch.allclose(x, expected)
    assert torch.allclose(normalize(torch.from_numpy(image).permute(2, 0, 1)), expected)


def test_no_warning_from_read_only_buffers_and_cache_is_used(make_data_folder):
    root = make_data_folder({"train": {"a": (blocks(), np.zeros((8, 12), np.uint8))}})
    dataset = SegmentationFolder(root, "train")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on non-writable numpy arrays
        dataset[0]
    assert dataset.load(0)[0] is dataset.load(0)[0]  # decoded once, then cached
    uncached = SegmentationFolder(root, "train", cache_bytes=0)
    assert uncached.load(0)[0] is not uncached.load(0)[0]


def test_exif_orientation_is_applied(tmp_path):
    stored = blocks(8, 12)  # W×H = 12×8 as stored
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = save(img, tmp_path / "rot.png", exif=exif.tobytes())
    loaded = load_image(path)
    assert loaded.shape == (12, 8, 3)
    np.testing.assert_array_equal(loaded, np.rot90(stored, k=-1))  # clockwise
    # A JPEG (where phones put the tag) the same way, up to compression.
    path = save(img, tmp_path / "rot.jpg", exif=exif.tobytes(), quality=100, subsampling=0)
    loaded = load_image(path)
    assert loaded.shape == (12, 8, 3)
    assert np.abs(loaded.astype(int) - np.rot90(stored, k=-1)).max() <= 8


def test_exif_rotated_image_needs_the_upright_mask(make_data_folder, tmp_path):
    img = Image.fromarray(blocks(8, 12))
    exif = img.getexif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    img.save(buffer, "PNG", exif=exif.tobytes())
    root = make_data_folder({"train": {"a": (("a.png", buffer.getvalue()), np.zeros((12, 8), np.uint8))}})
    x, y = SegmentationFolder(root, "train")[0]
    assert x.shape == (3, 12, 8) and y.shape == (12, 8)
    (root / "masks" / "train" / "a.png").unlink()
    Image.fromarray(np.zeros((8, 12), np.uint8)).save(root / "masks" / "train" / "a.png")  # stored orientation
    with pytest.raises(DataError, match=r"a\.png: mask is 12×8 \(W×H\) but its image is 8×12"):
        SegmentationFolder(root, "train")[0]


def test_grayscale_rgba_palette_and_16_bit_images(tmp_path):
    gray = np.array([[0, 100], [200, 255]], np.uint8)
    np.testing.assert_array_equal(load_image(save(Image.fromarray(gray), tmp_path / "g.png")), np.repeat(gray[..., None], 3, axis=2))

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = blocks(2, 2)
    rgba[..., 3] = [[0, 255], [128, 7]]  # alpha must not leak into the colours
    np.testing.assert_array_equal(load_image(save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png")), blocks(2, 2))

    palette_image = Image.fromarray(np.array([[0, 1], [2, 1]], np.uint8), "P")
    palette_image.putpalette([255, 0, 0, 0, 255, 0, 10, 20, 30] + [0] * 759)
    loaded = load_image(save(palette_image, tmp_path / "p.png"))
    np.testing.assert_array_equal(loaded[1, 0], [10, 20, 30])
    np.testing.assert_array_equal(loaded[0, 1], [0, 255, 0])

    deep = np.array([[0, 257], [32896, 65535]], np.uint16)  # 16-bit: the full range maps to 0..255
    path = save(Image.fromarray(deep), tmp_path / "d.png")
    assert Image.open(path).mode.startswith("I")
    np.testing.assert_array_equal(load_image(path)[..., 0], [[0, 1], [128, 255]])


def test_one_bit_and_palette_masks_are_indices(tmp_path):
    bits = Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8)).convert("1")
    np.testing.assert_array_equal(load_mask(save(bits, tmp_path / "b.png")), [[0, 1], [1, 0]])
    palette_mask = Image.fromarray(np.array([[0, 3], [255, 1]], np.uint8), "P")
    palette_mask.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [224, 224, 192] * 252)
    np.testing.assert_array_equal(load_mask(save(palette_mask, tmp_path / "p.png"), num_classes=4), [[0, 3], [255, 1]])


def test_missing_data_folder(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'nope'}: data folder not found"):
        SegmentationFolder(tmp_path / "nope", "train")


def test_missing_split_and_missing_classes(make_data_folder):
    root = make_data_folder({"train": {"a": (blocks(), np.zeros((8, 12), np.uint8))}})
    with pytest.raises(DataError, match=r"images/val: image folder for split 'val' not found"):
        SegmentationFolder(root, "val")
    (root / "classes.txt").unlink()
    with pytest.raises(DataError, match=r"classes\.txt: missing"):
        SegmentationFolder(root, "train")


def test_blank_line_inside_classes_is_an_error(make_data_folder):
    root = make_data_folder({"train": {"a": (blocks(), np.zeros((8, 12), np.uint8))}})
    (root / "classes.txt").write_text("bg\n\nthing\n\n")
    with pytest.raises(DataError, match=r"classes\.txt: line 2 is blank"):
        read_classes(root)
    (root / "classes.txt").write_text("\ufeffbg\nthing\n\n")  # BOM and trailing blank lines are fine
    assert read_classes(root) == ["bg", "thing"]
    (root / "classes.txt").write_text("bg\nthing\nbg\n")
    with pytest.raises(DataError, match=r"'bg' is named twice"):
        read_classes(root)


def test_image_without_mask(make_data_folder):
    root = make_data_folder({"train": {"a": (blocks(), np.zeros((8, 12), np.uint8)), "b": (blocks(), None)}})
    with pytest.raises(DataError, match=r"images/train/b\.png: no mask for this image \(expected .*masks/train/b\.png\)"):
        SegmentationFolder(root, "train")
    assert [s.id for s in list_samples(root, "train", require_masks=False)] == ["a", "b"]


def test_hidden_files_are_not_images(make_data_folder):
    root = make_data_folder({"train": {"a": (blocks(), np.zeros((8, 12), np.uint8))}})
    (root / "images" / "train" / "._a.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
    assert len(SegmentationFolder(root, "train")) == 1


def test_mask_size_differs_from_image(make_data_folder):
    root = make_data_folder({"train": {"a": (blocks(8, 12), np.zeros((8, 11), np.uint8))}})
    with pytest.raises(DataError, match=r"masks/train/a\.png: mask is 11×8 \(W×H\) but its image is 12×8"):
        SegmentationFolder(root, "train")[0]


def test_mask_value_not_a_class(make_data_folder):
    mask = np.zeros((8, 12), np.uint8)
    mask[0, :3] = [255, 1, 2]  # 255 = ignore is fine, 2 is not a class of a 2-class set
    root = make_data_folder({"train": {"a": (blocks(), mask)}})
    with pytest.raises(DataError, match=r"masks/train/a\.png: mask values \[2\] are not class ids \(there are 2 classes"):
        SegmentationFolder(root, "train")[0]
    mask[0, 2] = 1
    Image.fromarray(mask).save(root / "masks" / "train" / "a.png")
    assert SegmentationFolder(root, "train")[0][1][0, :3].tolist() == [255, 1, 1]


def test_rgb_mask_is_refused(make_data_folder):
    root = make_data_folder({"train": {"a": (blocks(), np.zeros((8, 12), np.uint8))}})
    Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(root / "masks" / "train" / "a.png")
    with pytest.raises(DataError, match=r"a\.png: mask has mode RGB .*--from color-masks"):
        SegmentationFolder(root, "train")[0]


@pytest.mark.parametrize("content", [b"not an image at all", "truncated"])
def test_unreadable_image(make_data_folder, content):
    if content == "truncated":
        buffer = io.BytesIO()
        Image.fromarray(blocks(64, 64)).save(buffer, "JPEG")
        content = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    root = make_data_folder({"train": {"a": (("a.jpg", content), np.zeros((64, 64), np.uint8))}})
    with pytest.raises(DataError, match=r"images/train/a\.jpg: unreadable image"):
        SegmentationFolder(root, "train")[0]


def test_unreadable_mask_and_check_all(make_data_folder):
    root = make_data_folder({"train": {"a": (blocks(), np.zeros((8, 12), np.uint8)), "b": (blocks(), np.zeros((8, 12), np.uint8))}})
    (root / "masks" / "train" / "b.png").write_bytes(b"\x89PNG broken")
    dataset = SegmentationFolder(root, "train")
    dataset[0]
    with pytest.raises(DataError, match=r"masks/train/b\.png: unreadable mask"):
        dataset.check_all()


def test_items_are_made_on_one_thread_and_the_count_is_restored(make_data_folder):
    seen = []

    def spy(image, mask):
        seen.append(torch.get_num_threads())
        return image, mask

    root = make_data_folder({"train": {"a": (blocks(), np.zeros((8, 12), np.uint8))}})
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        SegmentationFolder(root, "train", transform=spy)[0]
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
