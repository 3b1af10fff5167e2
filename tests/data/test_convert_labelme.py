"""labelme -> folder format: every shape type, specials, embedded or referenced images, one class map."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from pixelseg.data.convert import convert
from pixelseg.data.folder import read_classes
from pixelseg.errors import DataError

H, W = 14, 16


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def shape(label, points, kind="polygon", **extra):
    return {"label": label, "points": points, "shape_type": kind, "group_id": None, "flags": {}, **extra}


def write(path, shapes, image_data=None, image_path=None, size=(H, W)):
    path.write_text(json.dumps({
        "version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image_path,
        "imageData": base64.b64encode(image_data).decode() if image_data else None,
        "imageHeight": size[0], "imageWidth": size[1],
    }))


def disc(cx, cy, squared_radius_limit):
    ys, xs = np.mgrid[0:H, 0:W]
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= squared_radius_limit


@pytest.fixture
def folder(tmp_path):
    """Two labelme files: one with every shape type and an embedded image, one with imagePath."""
    src = tmp_path / "labelme"
    src.mkdir()
    write(src / "one.json", [
        shape("zebra", [[13, 0], [15, 0], [15, 1], [13, 1]], "rectangle"),               # four corners work too
        shape("dog", [[1, 1], [5, 1], [5, 4], [1, 4]]),                                   # polygon: x 1..5, y 1..4
        shape("cat", [[9, 0], [7, 3]], "rectangle"),                                     # corners in any order: x 7..9, y 0..3
        shape("cat", [[12, 4], [14, 4]], "circle"),                                      # centre (12, 4), radius 2
        shape("road", [[1, 9], [8, 9]], "line"),                                         # width 3: y 8..10, x 1..8
        shape("road", [[11, 7], [11, 12], [15, 12]], "linestrip"),                       # two segments, width 3
        shape("dog", [[3, 12]], "point"),                                                # skipped
        shape("__ignore__", [[0, 0], [1, 0], [1, 1], [0, 1]]),                           # -> 255, over the dog
        shape("_background_", [[4, 3], [5, 4]], "rectangle"),                            # carves a hole -> 0
    ], image_data=png_bytes(np.full((H, W, 3), 50, np.uint8)))
    Image.fromarray(np.full((H, W, 3), 80, np.uint8)).save(src / "two.jpg")
    write(src / "two.json", [shape("zebra", [[0, 0], [3, 2]], "rectangle"), shape("dog", [[2, 1], [6, 5]], "rectangle")], image_path="two.jpg")

    def expected(ids):
        one = np.zeros((H, W), np.uint8)
        one[0:2, 13:16] = ids["zebra"]
        one[1:5, 1:6] = ids["dog"]
        one[0:4, 7:10] = ids["cat"]
        one[disc(12, 4, 5)] = ids["cat"]  # PIL's ellipse for radius 2 holds the points with dx² + dy² <= 5
        one[8:11, 1:9] = ids["road"]
        one[7:13, 10:13] = ids["road"]   # vertical segment x 10..12, y 7..12
        one[11:14, 11:16] = ids["road"]  # horizontal segment y 11..13, x 11..15
        one[0:2, 0:2] = 255
        one[3:5, 4:6] = 0
        two = np.zeros((H, W), np.uint8)
        two[0:3, 0:4] = ids["zebra"]
        two[1:6, 2:7] = ids["dog"]  # later shapes on top
        return {"one": one, "two": two}

    return src, expected


def test_union_of_labels_is_the_class_map(folder, tmp_path):
    src, expected = folder
    out = tmp_path / "out"
    assert convert("labelme", src, out, line_width=3) == {"train": 2}
    names = read_classes(out)
    assert names == ["background", "cat", "dog", "road", "zebra"]  # sorted union; same id in every file
    ids = {name: i for i, name in enumerate(names)}
    for stem, mask in expected(ids).items():
        np.testing.assert_array_equal(np.array(Image.open(out / "masks" / "train" / f"{stem}.png")), mask, err_msg=stem)
    assert (out / "images" / "train" / "one.png").is_file()  # embedded PNG written as PNG
    assert (out / "images" / "train" / "two.jpg").read_bytes() == (src / "two.jpg").read_bytes()


def test_class_list_fixes_the_ids(folder, tmp_path):
    src, expected = folder
    classes = tmp_path / "labels.txt"
    classes.write_text("__ignore__\n_background_\nzebra\nroad\ndog\ncat\nhorse\n")  # labelme's labels.txt style
    convert("labelme", src, tmp_path / "out", classes=classes, split="val", line_width=3)
    names = read_classes(tmp_path / "out")
    assert names == ["background", "zebra", "road", "dog", "cat", "horse"]
    ids = {name: i for i, name in enumerate(names)}
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "out" / "masks" / "val" / "one.png")), expected(ids)["one"])


def test_label_missing_from_the_class_list(folder, tmp_path):
    src, _ = folder
    classes = tmp_path / "labels.txt"
    classes.write_text("background\ncat\ndog\nroad\n")
    with pytest.raises(DataError, match=r"one\.json: label 'zebra' is not in .*labels\.txt"):
        convert("labelme", src, tmp_path / "out", classes=classes)
    assert not (tmp_path / "out").exists()
    classes.write_text("cat\n_background_\n")
    with pytest.raises(DataError, match=r"labels\.txt: _background_ must be the first class"):
        convert("labelme", src, tmp_path / "out", classes=classes)


def test_default_line_width_is_labelmes(folder, tmp_path):
    src, _ = folder
    write(src / "one.json", [shape("road", [[2, 7], [13, 7]], "line")], image_data=png_bytes(np.zeros((H, W, 3), np.uint8)))
    (src / "two.json").unlink()
    convert("labelme", src, tmp_path / "out")
    mask = np.array(Image.open(tmp_path / "out" / "masks" / "train" / "one.png"))
    assert np.nonzero(mask[:, 7])[0].tolist() == list(range(3, 13))  # 10 pixels wide (PIL centres even widths low)
    assert np.nonzero(mask[7])[0].tolist() == list(range(2, 14))


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"shapes": [shape("dog", [[1, 1], [2, 2]], "hexagon")], "image_path": "two.jpg"}, r"one\.json: shape type 'hexagon' of 'dog' is not supported"),
        ({"shapes": [shape("dog", [[1, 1], [2, 2]])], "image_path": "two.jpg"}, r"one\.json: polygon 'dog' needs at least 3 points, has 2"),
        ({"shapes": [], "image_path": "missing.jpg"}, r"one\.json: its image .*missing\.jpg \(imagePath\) not found, and no imageData embedded"),
        ({"shapes": [], "image_path": None}, r"one\.json: neither imageData nor imagePath"),
        ({"shapes": [], "image_path": "two.jpg", "size": (H + 1, W)}, r"one\.json: mask is 16×15 \(W×H\) but its image is 16×14"),
        ({"shapes": [], "image_data": b"GIF89a garbage"}, r"one\.json: embedded image data is not a readable image"),
    ],
)
def test_bad_files_name_the_json(folder, tmp_path, doc, message):
    src, _ = folder
    write(src / "one.json", **doc)
    with pytest.raises(DataError, match=message):
        convert("labelme", src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_not_json_and_empty_folder(folder, tmp_path):
    src, _ = folder
    (src / "one.json").write_text("{broken")
    with pytest.raises(DataError, match=r"one\.json: not a readable JSON file"):
        convert("labelme", src, tmp_path / "out")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty: no labelme \.json files"):
        convert("labelme", empty, tmp_path / "out")


def test_mask_shape_of_labelme_5(folder, tmp_path):
    src, _ = folder
    bits = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 1, 1]], np.uint8)  # labelme stores 0/1, not 0/255
    write(src / "one.json", [shape("cat", [[2, 3], [5, 5]], "mask", mask=base64.b64encode(png_bytes(bits)).decode())],
          image_data=png_bytes(np.zeros((H, W, 3), np.uint8)))
    (src / "two.json").unlink()
    convert("labelme", src, tmp_path / "out")
    expected = np.zeros((H, W), np.uint8)
    expected[3:6, 2:6] = bits
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "out" / "masks" / "train" / "one.png")), expected)
