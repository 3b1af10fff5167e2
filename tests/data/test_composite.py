"""Composites: exact masks, the same pixels for the same seed, a folder the trainer reads."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixelseg.cli import main
from pixelseg.data.composite import load_cutouts, make_composite, write_composites
from pixelseg.data.folder import SegmentationFolder
from pixelseg.errors import DataError


def person(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """An RGBA 'person': an ellipse body with a soft edge, random colours."""
    yy, xx = np.mgrid[:height, :width]
    radius = ((yy - height / 2) / (height / 2)) ** 2 + ((xx - width / 2) / (width / 2)) ** 2
    alpha = np.clip((1.05 - radius) * 8, 0, 1)
    rgb = rng.integers(0, 256, (height, width, 3))
    return np.dstack([rgb, alpha * 255]).astype(np.uint8)


@pytest.fixture
def sources(tmp_path):
    rng = np.random.default_rng(0)
    cutouts, backgrounds = tmp_path / "people" / "cutouts", tmp_path / "people" / "backgrounds"
    cutouts.mkdir(parents=True)
    backgrounds.mkdir()
    for i in range(3):
        Image.fromarray(person(rng, 120 + 20 * i, 50 + 10 * i)).save(cutouts / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)).save(backgrounds / f"{i}.jpg")
    return tmp_path / "people"


def test_mask_is_exactly_the_thresholded_alpha_and_repeats_by_seed(sources):
    from pixelseg.data.composite import load_backgrounds

    people, scenes = load_cutouts(sources / "cutouts"), load_backgrounds(sources / "backgrounds")
    for seed in range(30):
        composite = make_composite(seed, people, scenes)
        assert composite.image.shape[:2] == composite.mask.shape == composite.alpha.shape
        np.testing.assert_array_equal(composite.mask == 1, composite.alpha >= 0.5)
        assert composite.mask.any() and not composite.mask.all()
        again = make_composite(seed, people, scenes)
        np.testing.assert_array_equal(again.image, composite.image)
        np.testing.assert_array_equal(again.mask, composite.mask)
    assert not np.array_equal(make_composite(0, people, scenes).image, make_composite(1, people, scenes).image)


def test_person_pixels_come_from_the_person_and_the_rest_from_the_background(sources):
    """Where alpha is 0 the pixel is the background's (up to the sensor noise added), where 1 the person's colour-shifted one."""
    people = [np.dstack([np.full((100, 40, 3), 250, np.uint8), np.full((100, 40), 255, np.uint8)])]
    scenes = [np.full((90, 160, 3), 10, np.uint8)]
    composite = make_composite(3, people, scenes)
    image = composite.image.astype(int)
    assert np.abs(image[composite.alpha == 0] - 10).max() <= 15
    inside = image[composite.alpha == 1]
    assert inside.min() > 130  # pulled at most 35% toward the dark background


def test_written_folder_trains_and_the_cli_reports_counts(sources, tmp_path, make_data_folder, capsys):
    photo = np.zeros((64, 48, 3), np.uint8)
    mask = np.zeros((64, 48), np.uint8)
    mask[10:50, 12:36] = 1
    photos = make_data_folder({"train": {"p0": (photo, mask)}, "val": {"v0": (photo, mask)}}, classes=("background", "person"))
    out = tmp_path / "made"
    assert main(["data", "composite", "--cutouts", str(sources), "--photos", str(photos), "--count", "5", "--photo-repeat", "2", "--out", str(out)]) == 0
    assert "wrote 7 images and masks to split 'train'" in capsys.readouterr().out
    train = SegmentationFolder(out, "train")
    train.check_all()
    assert train.classes == ["background", "person"] and len(train) == 7
    assert len(SegmentationFolder(out, "val")) == 1
    # One command, one result: a second run gives the same files.
    again = tmp_path / "again"
    write_composites(again, 5, sources / "cutouts", sources / "backgrounds", photos=photos, photo_repeat=2)
    for path in sorted((out / "masks" / "train").iterdir()):
        assert path.read_bytes() == (again / "masks" / "train" / path.name).read_bytes()


def test_cutouts_without_alpha_are_refused(tmp_path):
    (tmp_path / "c").mkdir()
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "c" / "flat.png")
    with pytest.raises(DataError, match="flat.png: a cut-out needs an alpha channel"):
        load_cutouts(tmp_path / "c")
    with pytest.raises(DataError, match="no .png cut-outs"):
        load_cutouts(tmp_path)
