"""`pixelseg data check`: statistics, chart, and each finding on a folder that has exactly that problem."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from pixelseg.cli import main
from pixelseg.data.check import ERROR, WARNING, check_folder, format_table

H, W = 24, 32


def picture(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def objects(value: int = 1) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[4:16, 6:20] = value
    return mask


def jpeg_bytes(array: np.ndarray, quality: int = 75) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def kinds(report, level=None) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for finding in report.findings:
        if level is None or finding.level == level:
            found.setdefault(finding.kind, []).append(finding.path.name if finding.path else "")
    return found


@pytest.fixture
def clean(make_data_folder):
    return make_data_folder({
        "train": {"a": (picture(1), objects()), "b": (picture(2), objects(2))},
        "val": {"c": (picture(3), objects())},
    }, classes=("background", "cat", "dog"))


def test_clean_folder_statistics(clean, tmp_path, capsys):
    report = check_folder(clean)
    assert report.findings == []
    assert {name: s.images for name, s in report.splits.items()} == {"train": 2, "val": 1}
    train = report.splits["train"].counts
    assert train.pixels.tolist() == [2 * (H * W - 168), 168, 168] and train.images.tolist() == [2, 1, 1]
    assert report.splits["train"].sizes == {(W, H): 2}
    table = format_table(report)
    assert "dog" in table and "21.88%" in table and f"{W}×{H}: 2" in table  # 168 / 768 = 21.88%
    assert main(["data", "check", str(clean), "--out", str(tmp_path / "chart.png")]) == 0
    out = capsys.readouterr().out
    assert "0 errors, 0 warnings" in out and "background" in out
    assert Image.open(tmp_path / "chart.png").size[0] > 100


def test_jpeg_mask_and_0_255_mask_are_both_named(make_data_folder, tmp_path, capsys):
    """The two classic mistakes: a mask saved as JPEG (then renamed .png) and a binary mask saved as 0/255."""
    good = objects()
    jpeg_decoded = np.array(Image.open(io.BytesIO(jpeg_bytes(objects(255)))))  # JPEG'd, then saved as PNG
    root = make_data_folder({"train": {
        "good": (picture(1), good),
        "binary": (picture(2), objects(255)),
        "lossy": (picture(3), jpeg_decoded),
        "renamed": (picture(4), None),
    }})
    (root / "masks" / "train" / "renamed.png").write_bytes(jpeg_bytes(good))  # JPEG data in a .png
    report = check_folder(root)
    found = kinds(report)
    assert found["binary-0-255"] == ["binary.png"]
    assert "lossy.png" in found["unknown-ids"]
    assert found["jpeg-mask"] == ["renamed.png"]
    lossy = next(f for f in report.findings if f.path.name == "lossy.png")
    assert "JPEG-compressed or resized" in lossy.message
    assert main(["data", "check", str(root), "--out", str(tmp_path / "c.png")]) == 1
    out = capsys.readouterr().out
    assert "masks/train/binary.png: only values 0 and 255" in out
    assert "masks/train/lossy.png: values [" in out and "masks/train/renamed.png: mask is JPEG-compressed" in out


def test_every_mask_0_255_is_an_error(make_data_folder):
    root = make_data_folder({"train": {"a": (picture(1), objects(255)), "b": (picture(2), objects(255))}})
    report = check_folder(root)
    assert [f.path.name for f in report.errors] == ["train"] and "binary masks saved as 0/255" in report.errors[0].message
    assert len(report.warnings) == 2


def test_rgb_mask_size_mismatch_unknown_ids(make_data_folder):
    unknown = objects()
    unknown[0, 0] = 7
    root = make_data_folder({"train": {
        "rgb": (picture(1), np.repeat(objects()[..., None], 3, axis=2)),
        "colour": (picture(5), picture(6)),
        "small": (picture(2), objects()[:-1]),
        "unknown": (picture(3), unknown),
    }})
    report = check_folder(root)
    assert kinds(report, ERROR) == {"rgb-mask": ["colour.png", "rgb.png"], "size-mismatch": ["small.png"], "unknown-ids": ["unknown.png"]}
    colour, rgb, small, unknown_finding = report.errors
    assert "(a colour mask: convert it with `pixelseg data convert --from color-masks`)" in colour.message
    assert rgb.message.startswith("mask has mode RGB with equal channels (a grayscale mask saved with colour channels")
    assert small.message == f"mask is {W}×{H - 1} (W×H) but its image is {W}×{H}"
    assert unknown_finding.message.startswith("values [7] are not class ids (2 classes, 0..1, 255 = ignore) on 1 pixels")


def test_same_image_in_two_splits_and_twice_in_one(make_data_folder):
    root = make_data_folder({
        "train": {"a": (picture(1), objects()), "b": (picture(1), objects()), "c": (picture(2), objects())},
        "val": {"d": (picture(2), objects())},
    })
    report = check_folder(root)
    assert kinds(report, ERROR) == {"leak": ["d.png"]}
    assert "the same image is in split 'train' as" in report.errors[0].message
    assert kinds(report, WARNING) == {"duplicate": ["b.png"]}


def test_empty_masks_are_warnings_only(make_data_folder, capsys):
    root = make_data_folder({"train": {
        "a": (picture(1), objects()),
        "zeros": (picture(2), np.zeros((H, W), np.uint8)),
        "ignored": (picture(3), np.full((H, W), 255, np.uint8)),
    }}, classes=("sky", "car"))
    report = check_folder(root)
    assert report.errors == []
    messages = {f.path.name: f.message for f in report.warnings}
    assert messages == {"zeros.png": "every pixel is class 0 (sky)", "ignored.png": "every pixel is ignore (255)"}
    assert main(["data", "check", str(root), "--out", str(root.parent / "c.png")]) == 0


def test_unreadable_files_missing_masks_orphans_and_layout(make_data_folder):
    root = make_data_folder({"train": {"a": (picture(1), objects()), "nomask": (picture(2), None), "broken": (("broken.jpg", b"\xff\xd8 nope"), objects())}})
    Image.fromarray(objects()).save(root / "masks" / "train" / "orphan.png")
    (root / "masks" / "train" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (root / "images" / "train" / "notes.txt").write_text("hello")
    (root / "classes.txt").unlink()
    report = check_folder(root)
    errors = kinds(report, ERROR)
    assert errors["classes"] == [""] and errors["missing-mask"] == ["nomask.png"]
    assert sorted(errors["unreadable"]) == ["a.png", "broken.jpg"]
    assert kinds(report, WARNING) == {"skipped": ["notes.txt"], "orphan-mask": ["orphan.png"]}
    assert format_table(report)  # still prints what it could count


def test_jpeg_mask_file_is_not_png(make_data_folder):
    root = make_data_folder({"train": {"a": (picture(1), None)}})
    (root / "masks" / "train" / "a.jpg").write_bytes(jpeg_bytes(objects()))
    assert kinds(check_folder(root), ERROR) == {"not-png": ["a.jpg"]}


def test_missing_folder_exits_1(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "nope")]) == 1
    assert "data folder not found" in capsys.readouterr().err


@pytest.mark.shared
@pytest.mark.parametrize("name", ["camvid", "human_seg", "coco128"])
def test_shared_datasets_check_clean(shared_datasets, tmp_path, capsys, name):
    started = time.perf_counter()
    code = main(["data", "check", str(shared_datasets / name), "--out", str(tmp_path / f"{name}.png")])
    seconds = time.perf_counter() - started
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 errors" in out and "(ignore)" in out
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    with capsys.disabled():
        print(f"\n{name}: check took {seconds:.1f} s")
