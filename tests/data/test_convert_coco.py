"""COCO -> folder format: polygons, RLE, crowd, category order, painting order, bad files; and coco128."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from pixelseg.cli import main
from pixelseg.data.convert import convert
from pixelseg.data.folder import SegmentationFolder, read_classes
from pixelseg.errors import DataError


# The fixture's annotation 7 is a 2-point polygon on purpose; its DataWarning is asserted in
# tests/cli/test_bad_input.py (convert-coco-two-points) and would only be noise here.
pytestmark = pytest.mark.filterwarnings("ignore::pixelseg.errors.DataWarning")


def rect(x0, y0, x1, y1):
    """A polygon along integer pixel edges; pycocotools fills x0 <= x < x1, y0 <= y < y1."""
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def compressed_rle(region: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(region.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def uncompressed_rle(region: np.ndarray) -> dict:
    """COCO's crowd format: run lengths over the column-major pixels, starting with a 0-run."""
    flat = region.astype(np.uint8).flatten(order="F")
    counts, current, run = [], 0, 0
    for value in flat:
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    counts.append(run)
    return {"size": list(region.shape), "counts": counts}


@pytest.fixture
def coco(tmp_path):
    """annotations/instances_val.json + images/val/{a,b,c}.jpg; returns (json path, expected masks)."""
    (tmp_path / "images" / "val").mkdir(parents=True)
    (tmp_path / "annotations").mkdir()
    h, w = 20, 30
    for name in ("a", "b", "c"):
        Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(tmp_path / "images" / "val" / f"{name}.jpg")
    blob = np.zeros((h, w), bool)
    blob[12:18, 20:27] = True
    blob[15, 27] = True
    crowd = np.zeros((h, w), bool)
    crowd[0:6, 0:10] = True
    categories = [  # out of id order on purpose: classes follow the ids, not the list
        {"id": 9, "name": "boat"}, {"id": 2, "name": "bicycle"}, {"id": 5, "name": "airplane"},
    ]
    annotations = [
        # image 1: a small bicycle listed BEFORE a big airplane that covers it: small must stay visible
        {"id": 1, "image_id": 1, "category_id": 2, "iscrowd": 0, "area": 16.0, "segmentation": [rect(4, 4, 8, 8)]},
        {"id": 2, "image_id": 1, "category_id": 5, "iscrowd": 0, "area": 144.0, "segmentation": [rect(2, 2, 14, 14)]},
        # a boat from a compressed RLE, and two polygons making up one object
        {"id": 3, "image_id": 1, "category_id": 9, "iscrowd": 0, "area": float(blob.sum()), "segmentation": compressed_rle(blob)},
        {"id": 4, "image_id": 1, "category_id": 2, "iscrowd": 0, "area": 8.0, "segmentation": [rect(16, 2, 18, 4), rect(16, 6, 18, 8)]},
        # image 2: a crowd of airplanes (uncompressed RLE) -> 255, partly covered by a bicycle
        {"id": 5, "image_id": 2, "category_id": 5, "iscrowd": 1, "area": float(crowd.sum()), "segmentation": uncompressed_rle(crowd)},
        {"id": 6, "image_id": 2, "category_id": 2, "iscrowd": 0, "area": 9.0, "segmentation": [rect(8, 3, 11, 6)]},
        # a degenerate polygon (two points) is nothing, not a box
        {"id": 7, "image_id": 2, "category_id": 9, "iscrowd": 0, "area": 0.0, "segmentation": [[1, 10, 5, 12]]},
    ]
    images = [{"id": i + 1, "file_name": f"{n}.jpg", "height": h, "width": w} for i, n in enumerate("abc")]  # c: no objects
    path = tmp_path / "annotations" / "instances_val.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))

    a = np.zeros((h, w), np.uint8)  # classes: 0 background, 1 bicycle (id 2), 2 airplane (id 5), 3 boat (id 9)
    a[2:14, 2:14] = 2
    a[4:8, 4:8] = 1
    a[blob] = 3
    a[2:4, 16:18] = 1
    a[6:8, 16:18] = 1
    b = np.zeros((h, w), np.uint8)
    b[0:6, 0:10] = 255
    b[3:6, 8:11] = 1
    return path, {"a": a, "b": b, "c": np.zeros((h, w), np.uint8)}


def test_polygons_rle_crowd_and_order(coco, tmp_path):
    path, expected = coco
    out = tmp_path / "out"
    assert convert("coco", path, out) == {"val": 3}  # split from the file name, images found in ../images/val
    assert read_classes(out) == ["background", "bicycle", "airplane", "boat"]
    for name, mask in expected.items():
        np.testing.assert_array_equal(np.array(Image.open(out / "masks" / "val" / f"{name}.png")), mask, err_msg=name)
        assert (out / "images" / "val" / f"{name}.jpg").read_bytes() == (tmp_path / "images" / "val" / f"{name}.jpg").read_bytes()
    assert len(SegmentationFolder(out, "val")) == 3
    assert sorted(p.name for p in out.iterdir()) == ["classes.txt", "images", "masks"]  # no temporary folder left


def test_class_subset_from_a_list(coco, tmp_path):
    path, expected = coco
    (tmp_path / "keep.txt").write_text("background\nboat\nbicycle\n")
    convert("coco", path, tmp_path / "out", classes=tmp_path / "keep.txt", split="mine")
    mask = np.array(Image.open(tmp_path / "out" / "masks" / "mine" / "a.png"))
    remapped = np.select([expected["a"] == 3, expected["a"] == 1], [1, 2], 0)  # airplane -> background
    np.testing.assert_array_equal(mask, remapped)
    # the crowd was airplanes, not kept: no ignore region for it
    b = np.array(Image.open(tmp_path / "out" / "masks" / "mine" / "b.png"))
    assert 255 not in b and b[3:6, 8:11].tolist() == [[2] * 3] * 3
    (tmp_path / "bad.txt").write_text("background\nsubmarine\n")
    with pytest.raises(DataError, match=r"bad\.txt: 'submarine' not among the categories"):
        convert("coco", path, tmp_path / "out2", classes=tmp_path / "bad.txt")


def test_exif_rotated_photo_gets_a_rotated_mask(coco, tmp_path):
    path, expected = coco
    img = Image.open(tmp_path / "images" / "val" / "a.jpg")
    exif = img.getexif()
    exif[0x0112] = 6  # stored 30×20, shown (and loaded) 20×30
    img.save(tmp_path / "images" / "val" / "a.jpg", exif=exif.tobytes())
    convert("coco", path, tmp_path / "out")
    mask = np.array(Image.open(tmp_path / "out" / "masks" / "val" / "a.png"))
    np.testing.assert_array_equal(mask, np.rot90(expected["a"], k=-1))
    assert SegmentationFolder(tmp_path / "out", "val")[0][1].shape == (30, 20)


def edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["annotations"][0].update(category_id=77), r"instances_val\.json: annotation 1 has category 77, which is not in 'categories'"),
        (lambda d: d["annotations"][0].update(image_id=99), r"instances_val\.json: annotation 1 refers to image 99"),
        (lambda d: d["annotations"][2]["segmentation"].update(size=[10, 10]), r"annotation 3 \(image 1\): RLE size \[10, 10\]"),
        (lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3]]), r"annotation 1 \(image 1\): a polygon must be a flat list of x, y pairs"),
        (lambda d: d["images"][2].update(height=21), r"instances_val\.json \(c\.jpg\): mask is 30×21 \(W×H\) but its image is 30×20"),
        (lambda d: d["images"][1].update(file_name="zz.jpg"), r"images/val/zz\.jpg: image of .*instances_val\.json not found"),
        (lambda d: d.pop("categories"), r"instances_val\.json: not a COCO instances file"),
    ],
)
def test_bad_input_names_the_file_and_writes_nothing(coco, tmp_path, change, message):
    path, _ = coco
    edit(path, change)
    with pytest.raises(DataError, match=message):
        convert("coco", path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_failure_leaves_an_existing_folder_as_it_was(coco, tmp_path):
    path, _ = coco
    out = tmp_path / "out"
    convert("coco", path, out, split="train")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    edit(path, lambda d: d["annotations"][0].update(category_id=77))
    with pytest.raises(DataError):
        convert("coco", path, out, split="val")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_cli(coco, tmp_path, capsys):
    path, _ = coco
    images = tmp_path / "images" / "val"
    assert main(["data", "convert", "--from", "coco", str(path), "--images", str(images), "--out", str(tmp_path / "out"), "--split", "x"]) == 0
    assert "wrote 3 images" in capsys.readouterr().out
    assert main(["data", "convert", "--from", "coco", str(path), "--out", str(tmp_path / "out"), "--split", "x"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("pixelseg data convert: error: ") and "images/x: already exists" in err
    assert main(["data", "convert", "--from", "coco", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o")]) == 1
    assert "nope.json: annotation file not found" in capsys.readouterr().err


@pytest.mark.shared
def test_coco128_val_matches_the_independent_masks(shared_datasets, tmp_path):
    coco128 = shared_datasets / "coco128"
    out = tmp_path / "coco128"
    counts = convert("coco", coco128 / "annotations" / "instances_val.json", out, images=coco128 / "images" / "val", split="val")
    assert counts == {"val": 19}
    assert read_classes(out) == read_classes(coco128)  # background + the 80 names in category-id order
    total = agree = 0
    for reference in sorted((coco128 / "masks" / "val").glob("*.png")):
        ours = np.array(Image.open(out / "masks" / "val" / reference.name))
        theirs = np.array(Image.open(reference))
        assert ours.shape == theirs.shape, reference.name
        total += theirs.size
        agree += int((ours == theirs).sum())
    assert total > 0
    agreement = agree / total
    print(f"coco128 val: {agreement:.6%} of {total} pixels agree")
    assert agreement >= 0.999


def test_a_killed_conversion_leaves_nothing_after_the_next_start(coco, tmp_path):
    """A conversion killed half-way (kill -9: no cleanup) leaves its `.<split>.<hex>.tmp` folder; the
    next conversion of that split into that folder sweeps it (issue 16)."""
    path, _ = coco
    out = tmp_path / "out"
    partial = out / ".train.0123abcd.tmp"
    (partial / "images").mkdir(parents=True)
    (partial / "images" / "a.jpg").write_bytes(b"half")
    convert("coco", path, out, split="train")
    assert not list(out.glob(".*")) and (out / "images" / "train").is_dir()
