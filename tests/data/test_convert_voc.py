"""VOC layout -> folder format: palette indices kept, 255 border kept, ImageSets split files."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixelseg.data.convert import convert
from pixelseg.data.convert.voc import VOC_CLASSES
from pixelseg.data.folder import SegmentationFolder, read_classes
from pixelseg.errors import DataError


def voc_palette() -> list[int]:
    """The PASCAL VOC colour map (bit-interleaved), 256 entries; index 255 is (224, 224, 192)."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def palette_mask(indices: np.ndarray) -> Image.Image:
    img = Image.fromarray(indices.astype(np.uint8), "P")
    img.putpalette(voc_palette())
    return img


def object_with_border(value: int, h=16, w=20) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    mask[3:12, 4:15] = 255  # VOC draws a 255 band around each object
    mask[5:10, 6:13] = value
    return mask


@pytest.fixture
def voc(tmp_path):
    root = tmp_path / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True)
    masks = {"2008_000001": object_with_border(15), "2008_000002": object_with_border(1), "2008_000003": object_with_border(20)}
    for sample_id, mask in masks.items():
        Image.fromarray(np.full((16, 20, 3), 120, np.uint8)).save(root / "JPEGImages" / f"{sample_id}.jpg")
        palette_mask(mask).save(root / "SegmentationClass" / f"{sample_id}.png")
    sets = root / "ImageSets" / "Segmentation"
    (sets / "train.txt").write_text("2008_000001\n2008_000002\n")
    (sets / "val.txt").write_text("2008_000003\n")
    (sets / "trainval.txt").write_text("2008_000001\n2008_000002\n2008_000003\n")
    return root, masks


def test_palette_indices_and_border_kept_per_split(voc, tmp_path):
    root, masks = voc
    out = tmp_path / "out"
    assert convert("voc", root, out) == {"train": 2, "val": 1}  # trainval is train + val: not a split of its own
    assert read_classes(out) == list(VOC_CLASSES)
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["train", "val"]
    for split, ids in {"train": ["2008_000001", "2008_000002"], "val": ["2008_000003"]}.items():
        assert sorted(p.stem for p in (out / "masks" / split).iterdir()) == ids
        for sample_id in ids:
            written = Image.open(out / "masks" / split / f"{sample_id}.png")
            assert written.mode == "L"  # indices, no palette: readers that expand palettes get ids too
            np.testing.assert_array_equal(np.array(written), masks[sample_id])
    mask = SegmentationFolder(out, "val")[0][1]
    assert set(mask.unique().tolist()) == {0, 20, 255}


def test_one_split_and_custom_class_names(voc, tmp_path):
    root, masks = voc
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"c{i}" for i in range(21)) + "\n")
    assert convert("voc", root, tmp_path / "out", classes=names, split="val") == {"val": 1}
    assert read_classes(tmp_path / "out")[20] == "c20"
    with pytest.raises(DataError, match=r"Segmentation/test\.txt: no such split file \(there are: train, trainval, val\)"):
        convert("voc", root, tmp_path / "out2", split="test")


def test_without_image_sets_every_mask_is_one_split(voc, tmp_path):
    root, _ = voc
    for path in (root / "ImageSets" / "Segmentation").iterdir():
        path.unlink()
    assert convert("voc", root, tmp_path / "out") == {"train": 3}


def test_value_beyond_the_class_list(voc, tmp_path):
    root, _ = voc
    names = tmp_path / "names.txt"
    names.write_text("background\nperson\n")  # only 2 classes, but masks hold 15 and 20
    with pytest.raises(DataError, match=r"SegmentationClass/2008_000001\.png: mask values \[15\] are not class ids \(2 classes, 255 = ignore\)"):
        convert("voc", root, tmp_path / "out", classes=names)
    assert not (tmp_path / "out").exists()


def test_rgb_mask_is_refused(voc, tmp_path):
    root, masks = voc
    palette_mask(masks["2008_000003"]).convert("RGB").save(root / "SegmentationClass" / "2008_000003.png")
    with pytest.raises(DataError, match=r"2008_000003\.png: mask has mode RGB, not palette/grayscale indices \(colour masks: use --from color-masks"):
        convert("voc", root, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # train converted fine, but nothing is published without val


def test_listed_id_without_mask_or_image(voc, tmp_path):
    root, _ = voc
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("2008_000003\n2008_000009\n")
    with pytest.raises(DataError, match=r"SegmentationClass/2008_000009\.png: mask of '2008_000009' \(listed in split 'val'\) not found"):
        convert("voc", root, tmp_path / "out")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("2008_000003\n")
    (root / "JPEGImages" / "2008_000003.jpg").unlink()
    with pytest.raises(DataError, match=r"JPEGImages/2008_000003\.jpg: image of '2008_000003' not found"):
        convert("voc", root, tmp_path / "out")


def test_not_a_voc_folder(tmp_path):
    with pytest.raises(DataError, match=r"JPEGImages: not found \(a VOC folder holds JPEGImages/ and SegmentationClass/"):
        convert("voc", tmp_path, tmp_path / "out")
