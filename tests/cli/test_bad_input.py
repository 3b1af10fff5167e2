"""The bad-input corpus: every way a user can get a command wrong that we know of, one line each.

Each case runs `pixelseg ARGS` in-process in its own temporary folder (with a copy of a tiny data set
and a tiny checkpoint) and asserts
    - the exit status: 2 usage (a flag, a name, an output path), 1 data (a file read or written);
    - no traceback, and at most one line on stderr;
    - the file or flag and the problem named in the output;
    - nothing left behind: no file in the folder appears or changes, except what `writes` allows.
A new case is one `case(...)` line; a setup it needs is a small function above the table.
"""
from __future__ import annotations

import fnmatch
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from pixelseg.cli import main
from pixelseg.data.synthetic import generate_dataset
from tests.inference.helpers import tiny_checkpoint, write_video

TINY = "--epochs 1 --quiet --model-option base_channels=4 --model-option depth=2"
TRAIN = f"train --data {{data}} --out {{out}} {TINY}"
EVALUATE = "evaluate --checkpoint {ckpt} --data {data} --quiet"
PREDICT = "predict --checkpoint {ckpt} --quiet"
APPLY = "apply --checkpoint {ckpt} --quiet"
LIVE = "live --checkpoint {ckpt} --quiet"
UNWRITABLE = "/sys/pixelseg-corpus"  # not writable even for root (sysfs refuses new entries)


@dataclass
class Case:
    args: str                         # split on spaces after {data}, {ckpt}, {tmp}, {out} are filled in
    code: int
    named: tuple[str, ...]            # each must appear in the output
    setup: Callable[[Path], None] | None = None
    writes: tuple[str, ...] = ()      # globs (relative to the case's folder) that may appear or change
    env: tuple[tuple[str, str], ...] = ()   # environment variables set for the case


def case(id: str, args: str, code: int, *named: str, setup=None, writes=(), env=None):
    return pytest.param(Case(args, code, named, setup, tuple(writes), tuple((env or {}).items())), id=id)


# ---- setups: each changes the case's folder (data/ is a fresh copy of the tiny data set) ----------

def write_file(name: str, content: bytes = b"x"):
    return lambda tmp: (tmp / name).parent.mkdir(parents=True, exist_ok=True) or (tmp / name).write_bytes(content)


def make_dir(name: str):
    return lambda tmp: (tmp / name).mkdir(parents=True)


def save_mask(split: str, stem: str, array: np.ndarray, fmt: str = "PNG"):
    def setup(tmp):
        Image.fromarray(array).save(tmp / "data" / "masks" / split / f"{stem}.png", format=fmt)
    return setup


def all_ignore(split: str):
    def setup(tmp):
        for path in (tmp / "data" / "masks" / split).glob("*.png"):
            Image.fromarray(np.full((40, 40), 255, np.uint8)).save(path)
    return setup


def symlink_loop(tmp):
    os.symlink("loop.png", tmp / "data" / "images" / "train" / "loop.png")


def existing_run(tmp):
    (tmp / "out").mkdir()
    for name in ("best.pt", "last.pt"):
        shutil.copy(tmp / "ckpt.pt", tmp / "out" / name)


def other_classes(tmp):
    (tmp / "data" / "classes.txt").write_text("a\nb\nc\nd\ne\n")


def damaged_video(tmp):
    clip = write_video(tmp / "full.mkv", frames=24, size=(48, 64), fps=12)
    data = clip.read_bytes()
    (tmp / "clip.mkv").write_bytes(data[: len(data) * 6 // 10])  # Matroska states no frame count: only its duration tells
    clip.unlink()


def labelme(points, name="a"):
    def setup(tmp):
        folder = tmp / "labelme"
        folder.mkdir(exist_ok=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / f"{name}.png")
        shape = {"label": "cat", "points": points, "shape_type": "polygon"}
        # json.dumps writes float("nan") as NaN, as labelme's own Python json does
        (folder / f"{name}.json").write_text(json.dumps({"shapes": [shape], "imagePath": f"{name}.png", "imageHeight": 8, "imageWidth": 8}))
    return setup


def coco(polygon):
    def setup(tmp):
        (tmp / "images").mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp / "images" / "a.png")
        (tmp / "instances_train.json").write_text(json.dumps({
            "images": [{"id": 1, "file_name": "a.png", "height": 8, "width": 8}],
            "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "segmentation": [polygon], "iscrowd": 0}],
            "categories": [{"id": 1, "name": "cat"}]}))
    return setup


def both(*setups):
    return lambda tmp: [setup(tmp) for setup in setups]


BAD_PNG = write_file("broken.png", b"this is not a png")
NON_UTF8 = write_file("data/classes.txt", "b\xe4ckground\ndisc\nsquare\ntriangle\nbar\n".encode("latin-1"))
JPEG_MASK = save_mask("train", "00000", np.zeros((40, 40), np.uint8), fmt="JPEG")

CASES = [
    # ---- train: the command line --------------------------------------------------------------
    case("train-unknown-model", f"{TRAIN} --model resnet9000", 2, "--model resnet9000", "unet"),
    case("train-init-unknown", f"{TRAIN} --init nosuchmodel", 2, "--init", "nosuchmodel", "person"),
    case("train-input-size-zero", f"{TRAIN} --input-size 0", 2, "--input-size", "at least 1, got 0"),
    case("train-scale-long-side-zero", f"{TRAIN} --scale-long-side 0", 2, "--scale-long-side", "at least 1, got 0"),
    case("train-val-groups-unknown", f"{TRAIN} --val-groups 9999", 1, "'9999'", "no image is in group", "00000 (2)"),
    case("train-group-by-not-a-regex", f"{TRAIN} --val-groups 00000 --group-by [", 2, "--group-by", "not a regular expression"),
    case("train-val-groups-empty", f"{TRAIN} --val-groups ,", 2, "--val-groups", "group names"),
    case("train-class-aware-crop-no-crop", f"{TRAIN} --class-aware-crop 0.5", 2, "class_aware_crop", "--crop-size"),
    case("train-class-aware-crop-above-1", f"{TRAIN} --crop-size 16 --class-aware-crop 2", 2, "class_aware_crop", "probability", "got 2.0"),
    case("train-ohem-min-kept-above-1", f"{TRAIN} --loss ohem+dice --ohem-min-kept 1.5", 2, "ohem_min_kept", "[0, 1]", "and 1.5"),
    case("train-split-joined-missing", f"{TRAIN} --train-split train+nosuch", 1, "images/nosuch", "split 'nosuch' not found"),
    case("train-split-joined-same-id", f"{TRAIN} --train-split train+val", 1, "val/00000.png", "id '00000' is in splits 'train' and 'val'"),
    case("train-ohem-threshold-0", f"{TRAIN} --loss ohem --ohem-threshold 0", 2, "ohem_threshold", "(0, 1]", "got 0.0"),
    case("train-keep-freed-memory-not-0-or-1", TRAIN, 2, "PIXELSEG_KEEP_FREED_MEMORY='yes'", "1", "0",
         env={"PIXELSEG_KEEP_FREED_MEMORY": "yes"}),
    case("train-teacher-unknown", f"{TRAIN} --teacher nosuchmodel", 2, "--teacher nosuchmodel", "person", "mediapipe"),
    case("train-teacher-other-classes", f"{TRAIN} --teacher person", 2, "--teacher person", "differ from the data's"),
    case("train-distill-weight-0", f"{TRAIN} --teacher {{ckpt}} --distill-weight 0", 2, "distill_weight must be positive"),
    case("train-unknown-option", f"{TRAIN} --model-option bogus_key=3", 2, "--model-option", "bogus_key", "base_channels"),
    case("train-option-wrong-type", f"{TRAIN} --model-option base_channels=abc", 2, "base_channels='abc'", "int"),
    case("train-option-negative", f"{TRAIN} --model-option base_channels=-4", 2, "base_channels=-4", "at least 1"),
    case("train-option-bad-upsample", f"{TRAIN} --model-option upsample=magic", 2, "upsample='magic'"),
    case("train-epochs-0", f"{TRAIN} --epochs 0", 2, "--epochs", "at least 1"),
    case("train-epochs-negative", f"{TRAIN} --epochs -1", 2, "--epochs", "at least 1"),
    case("train-epochs-text", f"{TRAIN} --epochs many", 2, "--epochs", "'many'"),
    case("train-batch-size-0", f"{TRAIN} --batch-size 0", 2, "--batch-size", "at least 1"),
    case("train-lr-negative", f"{TRAIN} --lr -1", 2, "lr must be positive"),
    case("train-crop-0", f"{TRAIN} --crop-size 0", 2, "--crop-size"),
    case("train-device-missing-gpu", f"{TRAIN} --device cuda:7", 2, "--device", "cuda"),
    case("train-device-unknown", f"{TRAIN} --device tpu", 2, "--device", "tpu"),
    case("train-out-is-a-file", f"{TRAIN}", 2, "--out", "is a file", setup=write_file("out")),
    case("train-out-under-a-file", TRAIN.replace("{out}", "{tmp}/afile/run"), 2, "--out", "afile is a file", setup=write_file("afile")),
    case("train-out-unwritable", TRAIN.replace("{out}", UNWRITABLE), 2, "--out", UNWRITABLE, "cannot write"),
    case("train-out-holds-a-run", f"{TRAIN}", 2, "--out", "already holds a run", "--resume", "--overwrite", setup=existing_run),
    case("train-resume-nothing", "train --resume {tmp}/nothing", 2, "nothing", "nothing to resume"),
    case("train-config-missing", "train --config {tmp}/none.yaml --data {data}", 2, "none.yaml", "not found"),
    case("train-config-not-yaml", "train --config {tmp}/c.yaml --data {data}", 2, "c.yaml", "not valid YAML", setup=write_file("c.yaml", b"a: [")),
    case("train-config-unknown-key", "train --config {tmp}/c.yaml --data {data}", 2, "c.yaml", "epochz", setup=write_file("c.yaml", b"epochz: 3\n")),
    # ---- train: the data --------------------------------------------------------------------------
    case("train-no-data-folder", TRAIN.replace("{data}", "{tmp}/nowhere"), 1, "nowhere", "not found"),
    case("train-image-without-mask", f"{TRAIN}", 1, "00002", "no mask", setup=lambda tmp: (tmp / "data/masks/train/00002.png").unlink()),
    case("train-mask-size", f"{TRAIN}", 1, "masks/val/00001.png", "40×30", setup=save_mask("val", "00001", np.zeros((30, 40), np.uint8))),
    case("train-mask-value", f"{TRAIN}", 1, "masks/train/00000.png", "[7]", setup=save_mask("train", "00000", np.full((40, 40), 7, np.uint8))),
    case("train-rgb-mask", f"{TRAIN}", 1, "masks/train/00000.png", "mode RGB", setup=save_mask("train", "00000", np.zeros((40, 40, 3), np.uint8))),
    case("train-jpeg-mask", f"{TRAIN}", 1, "masks/train/00000.png", "JPEG", setup=JPEG_MASK),
    case("train-unreadable-image", f"{TRAIN}", 1, "images/train/00003.png", "unreadable", setup=write_file("data/images/train/00003.png", b"no")),
    case("train-empty-split", f"{TRAIN}", 1, "no images", setup=lambda tmp: [p.unlink() for p in (tmp / "data/images/val").iterdir()]),
    case("train-non-utf8-classes", f"{TRAIN}", 1, "classes.txt", "not UTF-8", setup=NON_UTF8),
    case("train-blank-class-line", f"{TRAIN}", 1, "classes.txt", "line 2 is blank", setup=write_file("data/classes.txt", b"a\n\nb\nc\nd\n")),
    case("train-folder-named-png", f"{TRAIN}", 1, "00077.png", "a folder", setup=make_dir("data/images/train/00077.png")),
    case("train-symlink-loop", f"{TRAIN}", 1, "loop.png", "symbolic link", setup=symlink_loop),
    case("train-all-ignore-val", f"{TRAIN}", 1, "masks/val", "255 (ignore)", setup=all_ignore("val")),
    case("train-all-ignore-train", f"{TRAIN}", 1, "masks/train", "nothing to learn", setup=all_ignore("train")),
    # ---- evaluate -------------------------------------------------------------------------------
    case("evaluate-groups-unknown", f"{EVALUATE} --groups nope", 1, "'nope'", "no image is in group"),
    case("evaluate-group-by-not-a-regex", f"{EVALUATE} --groups 00000 --group-by (", 2, "--group-by", "not a regular expression"),
    case("evaluate-batch-size-0", f"{EVALUATE} --batch-size 0", 2, "--batch-size", "at least 1"),
    case("evaluate-json-onto-folder", f"{EVALUATE} --json {{tmp}}/scores", 2, "--json", "is a folder", setup=make_dir("scores")),
    case("evaluate-json-under-file", f"{EVALUATE} --json {{tmp}}/afile/s.json", 2, "--json", "afile is a file", setup=write_file("afile")),
    case("evaluate-json-unwritable", f"{EVALUATE} --json {UNWRITABLE}/s.json", 2, "--json", "cannot write"),
    case("evaluate-confusion-onto-folder", f"{EVALUATE} --confusion {{tmp}}/c.png", 2, "--confusion", "is a folder", setup=make_dir("c.png")),
    case("evaluate-no-checkpoint", "evaluate --checkpoint {tmp}/x.pt --data {data}", 2, "x.pt", "checkpoint not found"),
    case("evaluate-not-a-checkpoint", "evaluate --checkpoint {tmp}/x.pt --data {data}", 2, "x.pt", "not a readable checkpoint", setup=write_file("x.pt")),
    case("evaluate-unknown-split", f"{EVALUATE} --split nope", 1, "images/nope", "not found"),
    case("evaluate-other-classes", f"{EVALUATE}", 1, "classes.txt", "differ", setup=other_classes),
    case("evaluate-device", f"{EVALUATE} --device cuda:7", 2, "--device"),
    # ---- predict --------------------------------------------------------------------------------
    case("predict-missing-input", f"{PREDICT} {{tmp}}/nothing.jpg --out {{out}}", 1, "nothing.jpg", "no such file"),
    case("predict-unreadable-image", f"{PREDICT} {{tmp}}/broken.png --out {{out}}", 1, "broken.png", "unreadable image", setup=BAD_PNG),
    case("predict-unreadable-video", f"{PREDICT} {{tmp}}/v.mp4 --out {{out}}", 1, "v.mp4", "unreadable video", setup=write_file("v.mp4")),
    case("predict-damaged-video", f"{PREDICT} {{tmp}}/clip.mkv --out {{out}}", 1, "clip.mkv", "damaged video", "of the 24", setup=damaged_video),
    case("predict-not-an-image", f"{PREDICT} {{tmp}}/notes.txt --out {{out}}", 1, "notes.txt", "not an image", setup=write_file("notes.txt")),
    case("predict-out-is-a-file", f"{PREDICT} {{data}}/images/val --out {{out}}", 2, "--out", "is a file", setup=write_file("out")),
    case("predict-out-under-a-file", f"{PREDICT} {{data}}/images/val --out {{tmp}}/afile/o", 2, "--out", "afile is a file", setup=write_file("afile")),
    case("predict-out-unwritable", f"{PREDICT} {{data}}/images/val --out {UNWRITABLE}", 2, "--out", "cannot write"),
    case("predict-out-onto-inputs", f"{PREDICT} {{data}}/images/val --out {{data}}/images/val", 2, "would overwrite this input"),
    case("predict-onnx-runtime-pt", f"{PREDICT} {{data}}/images/val --out {{out}} --runtime onnx", 2, "--runtime onnx needs an .onnx file"),
    case("predict-batch-size-0", f"{PREDICT} {{data}}/images/val --out {{out}} --batch-size 0", 2, "--batch-size"),
    case("predict-window-0", f"{PREDICT} {{data}}/images/val --out {{out}} --window 0", 2, "--window"),
    case("predict-threads-0", f"{PREDICT} {{data}}/images/val --out {{out}} --threads 0", 2, "--threads"),
    case("predict-no-checkpoint", "predict --checkpoint {tmp}/x.pt {data}/images/val --out {out}", 2, "x.pt", "checkpoint not found"),
    # ---- apply ----------------------------------------------------------------------------------
    case("apply-replace-no-background", f"{APPLY} replace {{data}}/images/val --out {{out}}", 2, "--background"),
    case("apply-background-missing", f"{APPLY} replace {{data}}/images/val --out {{out}} --background {{tmp}}/bg.jpg", 2, "bg.jpg"),
    case("apply-smoothing-1", f"{APPLY} blur {{data}}/images/val --out {{out}} --smoothing 1", 2, "--smoothing"),
    case("apply-threshold-2", f"{APPLY} blur {{data}}/images/val --out {{out}} --threshold 2", 2, "--threshold"),
    case("apply-feather-negative", f"{APPLY} blur {{data}}/images/val --out {{out}} --feather -1", 2, "--feather"),
    case("apply-cutout-to-jpeg", f"{APPLY} cutout {{data}}/images/val/00000.png --out {{tmp}}/c.jpg", 2, "c.jpg", "transparency"),
    case("apply-unknown-effect", f"{APPLY} sparkle {{data}}/images/val --out {{out}}", 2, "sparkle"),
    case("apply-missing-input", f"{APPLY} blur {{tmp}}/nothing.jpg --out {{out}}", 1, "nothing.jpg", "no such file"),
    # ---- live -----------------------------------------------------------------------------------
    case("live-camera-missing", f"{LIVE} blur 97 --out {{tmp}}/o.mp4", 1, "camera 97", "does not exist"),
    case("live-camera-not-a-camera", f"{LIVE} blur /dev/null --out {{tmp}}/o.mp4", 1, "camera /dev/null", "cannot open"),
    case("live-source-unreadable", f"{LIVE} blur {{tmp}}/bad.mp4 --out {{tmp}}/o.mp4", 1, "bad.mp4", "unreadable video", setup=write_file("bad.mp4", b"junk")),
    case("live-source-missing", f"{LIVE} blur {{tmp}}/none.mp4 --out {{tmp}}/o.mp4", 1, "none.mp4", "not found"),
    case("live-source-damaged", f"{LIVE} blur {{tmp}}/clip.mkv --out {{tmp}}/o.mkv", 1, "clip.mkv", "damaged video", setup=damaged_video),
    case("live-no-sink", f"{LIVE} blur 0", 2, "--out", "--virtual-camera", "--preview"),
    case("live-virtual-camera-unavailable", f"{LIVE} blur {{tmp}}/clip.mp4 --virtual-camera", 2, "--virtual-camera",
         setup=lambda tmp: write_video(tmp / "clip.mp4", frames=2)),  # no pyvirtualcam, or no loopback device: both name the flag
    case("live-preview-unavailable", f"{LIVE} blur {{tmp}}/clip.mp4 --preview", 2, "--preview", "OpenCV",
         setup=lambda tmp: write_video(tmp / "clip.mp4", frames=2)),
    case("live-cutout-to-camera", f"{LIVE} cutout 0 --virtual-camera", 2, "cut-out", "transparency"),
    case("live-out-not-a-video", f"{LIVE} blur 0 --out {{tmp}}/o.png", 2, "--out", "o.png", "video"),
    case("live-out-photo-for-file", f"{LIVE} blur {{tmp}}/clip.mp4 --out {{tmp}}/o.png", 2, "o.png", "must be one too",
         setup=lambda tmp: write_video(tmp / "clip.mp4", frames=2)),
    case("live-out-onto-source", f"{LIVE} blur {{tmp}}/clip.mp4 --out {{tmp}}/clip.mp4", 2, "overwrite its input",
         setup=lambda tmp: write_video(tmp / "clip.mp4", frames=2)),
    case("live-out-folder", f"{LIVE} blur 0 --out {{tmp}}/o.mp4", 2, "--out", "is a folder", setup=make_dir("o.mp4")),
    case("apply-smoothing-mode-unknown", f"{APPLY} blur {{data}}/images/val --out {{out}} --smoothing-mode euro", 2, "--smoothing-mode", "'euro'"),
    case("live-smoothing-1", f"{LIVE} blur 0 --out {{tmp}}/o.mp4 --smoothing 1", 2, "--smoothing"),
    case("live-no-batch-size", f"{LIVE} blur 0 --out {{tmp}}/o.mp4 --batch-size 4", 2, "--batch-size"),
    # ---- export ---------------------------------------------------------------------------------
    case("export-opset-3", "export --checkpoint {ckpt} --onnx {tmp}/m.onnx --opset 3", 2, "--opset 3"),
    case("export-int8-without-onnx", "export --checkpoint {ckpt} --slim {tmp}/s.pt --int8 --calibrate {tmp}/x.jpg", 2, "--int8", "--onnx"),
    case("export-calibration-count-zero", "export --checkpoint {ckpt} --onnx {tmp}/m.onnx --int8 --calibrate {tmp}/x.jpg --calibration-count 0", 2,
         "--calibration-count", "0"),
    case("export-int8-without-calibration", "export --checkpoint {ckpt} --onnx {tmp}/m.onnx --int8", 2, "--int8 needs --calibrate"),
    case("export-int8-calibration-missing", "export --checkpoint {ckpt} --onnx {tmp}/m.onnx --int8 --calibrate {tmp}/nothere.jpg", 1, "nothere.jpg", "no such file"),
    case("export-opset-99", "export --checkpoint {ckpt} --onnx {tmp}/m.onnx --opset 99", 2, "--opset 99"),
    case("export-not-onnx-name", "export --checkpoint {ckpt} --onnx {tmp}/m.txt", 2, "m.txt", ".onnx"),
    case("export-onto-folder", "export --checkpoint {ckpt} --onnx {tmp}/m.onnx", 2, "--onnx", "is a folder", setup=make_dir("m.onnx")),
    case("export-under-a-file", "export --checkpoint {ckpt} --onnx {tmp}/afile/m.onnx", 2, "--onnx", "afile is a file", setup=write_file("afile")),
    case("export-unwritable", f"export --checkpoint {{ckpt}} --onnx {UNWRITABLE}/m.onnx", 2, "--onnx", "cannot write"),
    case("export-no-checkpoint", "export --checkpoint {tmp}/x.pt --onnx {tmp}/m.onnx", 2, "x.pt", "checkpoint not found"),
    # ---- data convert -----------------------------------------------------------------------------
    case("convert-out-is-a-file", "data convert --from labelme {tmp}/labelme --out {out}", 2, "--out", "is a file",
         setup=both(labelme([[1, 1], [5, 1], [5, 5]]), write_file("out"))),
    case("convert-out-unwritable", f"data convert --from labelme {{tmp}}/labelme --out {UNWRITABLE}", 2, "--out", "cannot write",
         setup=labelme([[1, 1], [5, 1], [5, 5]])),
    case("convert-labelme-nan", "data convert --from labelme {tmp}/labelme --out {out}", 1, "a.json", "not a finite number",
         setup=labelme([[1, 1], [float("nan"), 1], [5, 5]])),
    case("convert-labelme-infinity", "data convert --from labelme {tmp}/labelme --out {out}", 1, "a.json", "not a finite number",
         setup=labelme([[1, 1], [float("inf"), 1], [5, 5]])),
    case("convert-labelme-points-oops", "data convert --from labelme {tmp}/labelme --out {out}", 1, "a.json", "'points' must be a list", "oops",
         setup=labelme("oops")),
    case("convert-labelme-no-folder", "data convert --from labelme {tmp}/nothing --out {out}", 1, "nothing", "not found"),
    case("convert-line-width-0", "data convert --from labelme {tmp}/labelme --out {out} --line-width 0", 2, "--line-width"),
    case("convert-coco-two-points", "data convert --from coco {tmp}/instances_train.json --out {out}", 0, "annotation 7", "encloses nothing",
         setup=coco([1, 1, 5, 5]), writes=["out", "out/*", "out/*/*", "out/*/*/*"]),
    case("convert-coco-nan", "data convert --from coco {tmp}/instances_train.json --out {out}", 1, "annotation 7", "not a finite number",
         setup=coco([1, 1, 5, "NaN", 5, 1])),
    case("convert-coco-not-json", "data convert --from coco {tmp}/c.json --out {out}", 1, "c.json", "not a readable JSON", setup=write_file("c.json", b"{")),
    case("convert-coco-missing", "data convert --from coco {tmp}/c.json --out {out}", 1, "c.json", "not found"),
    case("convert-images-for-voc", "data convert --from voc {tmp} --out {out} --images {tmp}", 2, "--images"),
    case("convert-classes-non-utf8", "data convert --from labelme {tmp}/labelme --out {out} --classes {tmp}/c.txt", 1, "c.txt", "unreadable class list",
         setup=both(labelme([[1, 1], [5, 1], [5, 5]]), write_file("c.txt", b"b\xe4ckground\ncat\n"))),
    # ---- data check -------------------------------------------------------------------------------
    case("check-non-utf8-classes", "data check {data} --out {tmp}/chart.png", 1, "classes.txt", "not UTF-8", setup=NON_UTF8, writes=["chart.png"]),
    case("check-no-folder", "data check {tmp}/nowhere --out {tmp}/chart.png", 1, "nowhere", "not found"),
    case("check-chart-onto-folder", "data check {data} --out {tmp}/chart.png", 2, "--out", "is a folder", setup=make_dir("chart.png")),
    case("check-chart-unwritable", f"data check {{data}} --out {UNWRITABLE}/chart.png", 2, "--out", "cannot write"),
    case("check-jpeg-mask", "data check {data} --out {tmp}/chart.png", 1, "masks/train/00000.png", "JPEG", setup=JPEG_MASK, writes=["chart.png"]),
    case("check-folder-named-png", "data check {data} --out {tmp}/chart.png", 1, "00077.png", "a folder",
         setup=make_dir("data/images/train/00077.png"), writes=["chart.png"]),
    case("check-all-ignore", "data check {data} --out {tmp}/chart.png", 1, "split 'val'", "255 (ignore)", setup=all_ignore("val"), writes=["chart.png"]),
    # ---- serve (arguments only: nothing listens) ----------------------------------------------
    case("serve-port-too-big", "serve --checkpoint {ckpt} --port 99999", 2, "--port", "99999"),
    case("serve-port-negative", "serve --checkpoint {ckpt} --port -1", 2, "--port"),
    case("serve-port-text", "serve --checkpoint {ckpt} --port http", 2, "--port", "'http'"),
    case("serve-max-mb-0", "serve --checkpoint {ckpt} --max-mb 0", 2, "--max-mb"),
    case("serve-no-checkpoint", "serve --checkpoint {tmp}/x.pt", 2, "x.pt", "checkpoint not found"),
    case("serve-device", "serve --checkpoint {ckpt} --device cuda:7", 2, "--device"),
    case("evaluate-edge-band-0", f"{EVALUATE} --edge-band 0", 2, "--edge-band", "at least 1"),
    case("evaluate-threads-0", f"{EVALUATE} --threads 0", 2, "--threads", "at least 1"),
    # --skip-existing must not take the inputs for outputs already done: the overwrite check comes first.
    case("predict-skip-existing-onto-inputs", f"{PREDICT} {{data}}/images/val --out {{data}}/images/val --skip-existing", 2,
         "00000.png", "would overwrite this input"),
    case("apply-skip-existing-onto-inputs", f"{APPLY} blur {{data}}/images/val --out {{data}}/images/val --skip-existing", 2,
         "00000.png", "would overwrite its input"),
    case("evaluate-refine-unknown", f"{EVALUATE} --refine sharp", 2, "--refine", "'sharp'"),
    case("evaluate-tta-scales-zero", f"{EVALUATE} --tta-scales 1,0", 2, "--tta-scales", "factors in (0, 4]"),
    case("predict-tta-scales-not-numbers", f"{PREDICT} {{tmp}}/x.jpg --out {{out}} --tta-scales big", 2, "--tta-scales", "'big'"),
    case("predict-input-size-negative", f"{PREDICT} {{tmp}}/x.jpg --out {{out}} --input-size -3", 2, "--input-size", "-3"),
    case("evaluate-size-multiple-0", f"{EVALUATE} --size-multiple 0", 2, "--size-multiple", "at least 1"),
    case("live-size-multiple-not-a-number", f"{LIVE} blur {{tmp}}/x.mp4 --size-multiple stride", 2, "--size-multiple", "'stride'"),
    case("apply-solid-too-big", f"{APPLY} blur {{tmp}}/x.jpg --out {{out}} --solid 0.6", 2, "--solid", "below 0.5"),
    case("export-nothing-to-write", "export --checkpoint {ckpt}", 2, "--onnx", "--slim"),
    case("export-slim-onto-folder", "export --checkpoint {ckpt} --slim {tmp}/s.pt", 2, "--slim", "is a folder", setup=make_dir("s.pt")),
    case("composite-count-0", "data composite --cutouts {tmp} --out {out} --count 0", 2, "--count", "at least 1"),
    case("composite-no-cutouts", "data composite --cutouts {tmp}/none --out {out} --count 2", 1, "none", "no .png cut-outs"),
    case("annotate-no-folder", "annotate {tmp}/nowhere --classes background,cat", 1, "nowhere", "folder not found"),
    case("annotate-port-too-big", "annotate {data} --port 99999", 2, "--port", "99999"),
    case("annotate-no-checkpoint", "annotate {data} --checkpoint {tmp}/x.pt", 2, "x.pt", "checkpoint not found"),
    case("train-binary-five-classes", f"{TRAIN} --binary", 2, "binary mode", "two classes", "classes.txt has 5"),
    case("train-config-mode-unknown", "train --config {tmp}/c.yaml --data {data}", 2, "mode must be one of", "'sigmoid'",
         setup=write_file("c.yaml", b"mode: sigmoid\n")),
    case("predict-threshold-2", f"{PREDICT} {{data}}/images/val --out {{out}} --threshold 2", 2, "--threshold", "[0, 1]"),
    case("predict-threshold-multiclass", f"{PREDICT} {{data}}/images/val --out {{out}} --threshold 0.4", 2, "--threshold 0.4", "multiclass"),
    case("evaluate-threshold-text", f"{EVALUATE} --threshold half", 2, "--threshold", "'half'"),
    case("evaluate-threshold-multiclass", f"{EVALUATE} --threshold 0.5", 2, "--threshold 0.5", "multiclass"),
    case("serve-threshold-negative", "serve --checkpoint {ckpt} --threshold -0.5", 2, "--threshold"),
    case("serve-threshold-multiclass", "serve --checkpoint {ckpt} --threshold 0.5", 2, "--threshold 0.5", "multiclass"),
    # ---- demo -----------------------------------------------------------------------------------
    case("demo-epochs-negative", "demo --out {out} --epochs -1", 2, "--epochs"),
    case("demo-train-images-0", "demo --out {out} --train-images 0", 2, "--train-images"),
    case("demo-val-images-0", "demo --out {out} --val-images 0", 2, "--val-images"),
    case("demo-out-is-a-file", "demo --out {out}", 2, "--out", "is a file", setup=write_file("out")),
    case("demo-out-unwritable", f"demo --out {UNWRITABLE}", 2, "--out", "cannot write"),
    # ---- the command itself -----------------------------------------------------------------------
    case("unknown-command", "segment {data}", 2, "'segment'"),
    case("unknown-flag", f"{TRAIN} --epochz 3", 2, "--epochz"),
]


@pytest.fixture(scope="session")
def corpus_source(tmp_path_factory):
    """The tiny data set and a checkpoint for its classes, made once for the whole corpus."""
    root = tmp_path_factory.mktemp("corpus")
    data = generate_dataset(root / "data", train=4, val=2, size=40, progress=False)
    classes = (data / "classes.txt").read_text().split()
    return data, tiny_checkpoint(root / "ckpt.pt", classes=classes)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every path under `folder` (links not followed) -> what would show a change (of a folder: only
    that it is there; its time changes with any file made and deleted in it, such as a probe)."""
    found = {}
    for path in folder.rglob("*"):
        info = path.lstat()
        found[path.relative_to(folder).as_posix()] = (info.st_mode,) if path.is_dir() and not path.is_symlink() else (info.st_mode, info.st_size, info.st_mtime_ns)
    return found


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("bad", CASES)
def test_bad_input(bad: Case, corpus_source, tmp_path, monkeypatch, capsys):
    data, checkpoint = corpus_source
    shutil.copytree(data, tmp_path / "data")
    shutil.copy(checkpoint, tmp_path / "ckpt.pt")
    monkeypatch.chdir(tmp_path)  # defaults such as runs/check/ land here too, inside the leftover check
    if bad.setup:
        bad.setup(tmp_path)
    for name, value in bad.env:
        monkeypatch.setenv(name, value)
    before = snapshot(tmp_path)
    fill = {"data": tmp_path / "data", "ckpt": tmp_path / "ckpt.pt", "tmp": tmp_path, "out": tmp_path / "out"}
    argv = [part.format(**fill) for part in bad.args.split()]

    code, out, err = run(argv, capsys)

    assert "Traceback" not in out + err
    assert code == bad.code, (code, out, err)
    assert len(err.strip().splitlines()) <= 1, err
    for text in bad.named:
        assert text in out + err, (text, out, err)
    after = snapshot(tmp_path)
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    left = sorted(p for p in changed if not any(fnmatch.fnmatch(p, pattern) for pattern in bad.writes))
    assert not left, f"left behind or changed: {left}"


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    argv = ["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"), "--model-option", "base_channels=4"]
    code, _, err = run(argv + ["--debug"], capsys)
    assert code == 1 and "Traceback" in err and err.strip().splitlines()[-1].startswith("pixelseg train: error: ")
    monkeypatch.setenv("PIXELSEG_DEBUG", "1")
    code, _, err = run(argv, capsys)
    assert code == 1 and "Traceback" in err


def test_a_bug_keeps_its_traceback(monkeypatch):
    """Only the errors a user can cause become one line; anything else is a bug and must show itself."""
    import pixelseg.cli.export as export

    monkeypatch.setattr(export, "run", lambda args: [][1])
    with pytest.raises(IndexError):
        main(["export", "--checkpoint", "m.pt", "--onnx", "m.onnx"])
