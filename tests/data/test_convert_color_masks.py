"""Colour masks + a colour table (CSV or JSON) -> index masks; unknown colours are errors naming file and colour."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pixelseg.data.convert import convert
from pixelseg.data.convert.color_masks import read_colour_table
from pixelseg.data.folder import read_classes
from pixelseg.errors import DataError

SKY, ROAD, CAR, CAR2, VOID = (128, 128, 128), (128, 64, 128), (64, 0, 128), (64, 0, 129), (0, 0, 0)


@pytest.fixture
def source(tmp_path):
    """SRC/images/{a,b}.png and SRC/masks/{a,b}.png; returns (SRC, {id: expected index mask})."""
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    index = {"a": np.array([[0, 0, 1, 1], [2, 2, 1, 255], [2, 2, 1, 0]], np.uint8),
             "b": np.array([[1, 1, 1, 1], [1, 2, 2, 1], [255, 255, 0, 0]], np.uint8)}
    colours = {0: SKY, 1: ROAD, 2: CAR, 255: VOID}
    for stem, mask in index.items():
        rgb = np.zeros((*mask.shape, 3), np.uint8)
        for value, colour in colours.items():
            rgb[mask == value] = colour
        if stem == "b":
            rgb[1, 2] = CAR2  # a second colour for the same class
        Image.fromarray(rgb).save(src / "masks" / f"{stem}.png")
        Image.fromarray(np.full((*mask.shape, 3), 7, np.uint8)).save(src / "images" / f"{stem}.png")
    return src, index


def csv_table(tmp_path) -> str:
    path = tmp_path / "classes.csv"
    path.write_text("name,r,g,b\nsky,128,128,128\nroad,128,64,128\ncar,64,0,128\ncar,64,0,129\n__ignore__,0,0,0\n")
    return path


def check_output(out, index):
    assert read_classes(out) == ["sky", "road", "car"]
    for stem, mask in index.items():
        np.testing.assert_array_equal(np.array(Image.open(out / "masks" / "train" / f"{stem}.png")), mask, err_msg=stem)


def test_csv_table(source, tmp_path):
    src, index = source
    assert convert("color-masks", src, tmp_path / "out", classes=csv_table(tmp_path)) == {"train": 2}
    check_output(tmp_path / "out", index)


@pytest.mark.parametrize(
    "table",
    [
        [{"name": "sky", "color": [128, 128, 128]}, {"name": "road", "color": "#804080"}, {"name": "car", "color": [64, 0, 128]},
         {"name": "car", "color": "#400081"}, {"name": "void", "color": [0, 0, 0], "id": 255}],
        [{"name": "car", "color": [64, 0, 128], "id": 2}, {"name": "car", "color": [64, 0, 129], "id": 2},
         {"name": "sky", "color": [128, 128, 128], "id": 0}, {"name": "road", "color": [128, 64, 128], "id": 1},
         {"name": "__ignore__", "color": [0, 0, 0]}],
    ],
    ids=["in-order", "explicit-ids"],
)
def test_json_list_tables(source, tmp_path, table):
    src, index = source
    (tmp_path / "t.json").write_text(json.dumps(table))
    convert("color-masks", src, tmp_path / "out", classes=tmp_path / "t.json")
    check_output(tmp_path / "out", index)


def test_json_object_table_and_images_elsewhere(source, tmp_path):
    src, index = source
    (tmp_path / "t.json").write_text(json.dumps({"sky": "#808080", "road": [128, 64, 128], "car": [64, 0, 128], "__ignore__": "#000000"}))
    names, table = read_colour_table(tmp_path / "t.json")
    assert names == ["sky", "road", "car"] and table[VOID] == 255
    (src / "masks" / "b.png").unlink()  # CAR2 is not in this table
    (src / "images" / "b.png").unlink()
    convert("color-masks", src / "masks", tmp_path / "out", classes=tmp_path / "t.json", images=src / "images", split="val")
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "out" / "masks" / "val" / "a.png")), index["a"])


def test_unknown_colour_names_the_file_and_the_colour(source, tmp_path):
    src, _ = source
    rgb = np.array(Image.open(src / "masks" / "b.png"))
    rgb[2, 3] = (1, 2, 3)
    Image.fromarray(rgb).save(src / "masks" / "b.png")
    with pytest.raises(DataError, match=r"masks/b\.png: 1 colour\(s\) not in the colour table, e\.g\. RGB \(1, 2, 3\) at x=3, y=2 \(1 pixels"):
        convert("color-masks", src, tmp_path / "out", classes=csv_table(tmp_path))
    assert not (tmp_path / "out").exists()


def test_jpeg_colour_mask_gets_a_hint(source, tmp_path):
    src, _ = source
    big = np.zeros((32, 32, 3), np.uint8)
    big[:, :16] = SKY
    big[:, 16:] = CAR
    Image.fromarray(big).save(src / "masks" / "a.jpg", quality=75)
    (src / "masks" / "a.png").unlink()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(src / "images" / "a.png")
    with pytest.raises(DataError, match=r"masks/a\.jpg: \d+ colour\(s\) not in the colour table.* it is a JPEG: lossy compression invents colours"):
        convert("color-masks", src, tmp_path / "out", classes=csv_table(tmp_path))


def test_pairing_errors(source, tmp_path):
    src, _ = source
    (src / "masks" / "b.png").rename(src / "masks" / "c.png")
    with pytest.raises(DataError, match=r"masks/c\.png: mask without an image"):
        convert("color-masks", src, tmp_path / "out", classes=csv_table(tmp_path))
    (src / "masks" / "c.png").unlink()
    with pytest.raises(DataError, match=r"images/b\.png: image without a mask"):
        convert("color-masks", src, tmp_path / "out", classes=csv_table(tmp_path))


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("t.csv", "class,red,green,blue\nsky,1,2,3\n", r"t\.csv: a colour table CSV needs a header with name,r,g,b"),
        ("t.csv", "name,r,g,b\nsky,1,2,300\n", r"t\.csv: line 2: colour \['1', '2', '300'\] is not"),
        ("t.json", json.dumps([{"name": "a", "color": [0, 0, 0], "id": 0}, {"name": "b", "color": [1, 1, 1], "id": 2}]),
         r"t\.json: class ids \[1\] have no entry"),
        ("t.json", json.dumps({"a": [0, 0, 0], "b": [0, 0, 0]}), r"t\.json: colour \(0, 0, 0\) is given to two classes"),
        ("t.json", "[1, 2]", r"t\.json: expected a list of"),
    ],
)
def test_bad_tables(source, tmp_path, name, text, message):
    src, _ = source
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match=message):
        convert("color-masks", src, tmp_path / "out", classes=tmp_path / name)


def test_table_is_required(source, tmp_path):
    src, _ = source
    with pytest.raises(DataError, match=r"needs the colour table: --classes"):
        convert("color-masks", src, tmp_path / "out")
