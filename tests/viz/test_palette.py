import numpy as np
from PIL import Image

from pixelseg.viz.palette import PALETTE, mask_to_palette_image, overlay


def test_palette_is_voc_colour_map():
    assert PALETTE[0].tolist() == [0, 0, 0]
    assert PALETTE[1].tolist() == [128, 0, 0]
    assert PALETTE[2].tolist() == [0, 128, 0]
    assert PALETTE[15].tolist() == [192, 128, 128]
    assert PALETTE[255].tolist() == [255, 255, 255]
    assert len({tuple(c) for c in PALETTE[:255].tolist()}) == 255


def test_palette_png_keeps_class_ids(tmp_path):
    mask = np.array([[0, 1, 2], [3, 255, 4]], dtype=np.uint8)
    mask_to_palette_image(mask).save(tmp_path / "m.png")
    with Image.open(tmp_path / "m.png") as img:
        assert img.mode == "P"
        assert np.array_equal(np.asarray(img), mask)


def test_overlay_paints_objects_only():
    image = np.full((2, 2, 3), 100, dtype=np.uint8)
    mask = np.array([[0, 1], [255, 2]], dtype=np.uint8)
    out = overlay(image, mask, alpha=0.5)
    assert out[0, 0].tolist() == [100, 100, 100] and out[1, 0].tolist() == [100, 100, 100]
    assert out[0, 1].tolist() == [114, 50, 50]  # halfway to (128, 0, 0)
