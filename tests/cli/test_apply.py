"""`pixelseg apply EFFECT INPUT`: photos, folders, videos; clear errors."""
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from pixelseg.cli import main
from tests.inference.helpers import tiny_checkpoint, video_facts, write_video


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.pt")


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (37, 50, 3), dtype=np.uint8)).save(path)
    return path


def apply(checkpoint, *args):
    return main(["apply", *map(str, args), "--checkpoint", str(checkpoint), "--quiet"])


@pytest.mark.parametrize("effect, extra", [("replace", ["--background", "#102030"]), ("blur", ["--strength", "3"]), ("retain-color", []),
                                           ("retain-color", ["--threshold", "0.5", "--feather", "0"])])
def test_photo_effects_keep_size_and_format(checkpoint, photo, tmp_path, capsys, effect, extra):
    out = tmp_path / "out.jpg"
    assert apply(checkpoint, effect, photo, "--out", out, *extra) == 0
    assert "target class 1 = 'person'" in capsys.readouterr().out  # the default target
    with Image.open(out) as result:
        assert result.size == (50, 37) and result.format == "JPEG"


def test_replace_with_an_image_and_retain_color_greys_outside_a_hard_mask(checkpoint, photo, tmp_path):
    background = tmp_path / "beach.png"
    Image.fromarray(np.full((10, 10, 3), 99, np.uint8)).save(background)
    assert apply(checkpoint, "replace", photo, "--out", tmp_path / "r.png", "--background", background) == 0
    assert apply(checkpoint, "retain-color", photo, "--out", tmp_path / "g.png", "--target", "sky", "--threshold", "0.5", "--feather", "0") == 0
    assert np.asarray(Image.open(tmp_path / "r.png")).shape == (37, 50, 3)


def test_cutout_folder_writes_png_with_alpha(checkpoint, photo, tmp_path):
    assert apply(checkpoint, "cutout", photo.parent, "--out", tmp_path / "cut") == 0
    with Image.open(tmp_path / "cut" / "photo.png") as result:
        assert result.mode == "RGBA" and result.size == (50, 37)


def test_video_out_has_the_inputs_frames_size_and_rate(checkpoint, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", frames=6, size=(48, 64), fps=12)
    # What a killed earlier run left (video_io's temporary, no cleanup after kill -9): swept (issue 16).
    (tmp_path / ".blurred.0123abcd.tmp.mp4").write_bytes(b"half a video")
    assert apply(checkpoint, "blur", clip, "--out", tmp_path / "blurred.mp4", "--smoothing", "0.3", "--batch-size", "3") == 0
    facts = video_facts(tmp_path / "blurred.mp4")
    assert (facts["frames"], facts["size"], facts["rate"]) == (6, (48, 64), Fraction(12))
    assert apply(checkpoint, "cutout", clip, "--out", tmp_path / "cut") == 0
    assert video_facts(tmp_path / "cut" / "clip.webm")["frames"] == 6
    assert not list(tmp_path.glob(".*"))


def test_skip_existing_does_only_the_missing_and_torn_outputs(checkpoint, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ("a", "b", "c", "d"):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(folder / f"{name}.jpg")
    out = tmp_path / "out"
    assert apply(checkpoint, "blur", folder, "--out", out) == 0
    first = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    (out / "b.jpg").unlink()
    (out / "c.jpg").write_bytes(first["c.jpg"][2][:-30])  # torn: its end is missing
    capsys.readouterr()
    assert apply(checkpoint, "blur", folder, "--out", out, "--skip-existing") == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("2 images in ")  # b and c, not a and d
    for name in ("a.jpg", "d.jpg"):  # untouched
        assert ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns) == first[name][:2]
    assert all((out / name).read_bytes() == first[name][2] for name in first)  # the rest written again, the same


@pytest.mark.parametrize(
    "args, expected",
    [
        (["replace", "{photo}", "--out", "{tmp}/o.jpg"], "replace needs --background"),
        (["replace", "{photo}", "--out", "{tmp}/o.jpg", "--background", "#12"], "colour '#12' is not #RRGGBB"),
        (["replace", "{photo}", "--out", "{tmp}/o.jpg", "--background", "{tmp}/nope.png"], "neither an image file nor a colour"),
        (["retain-color", "{photo}", "--out", "{tmp}/o.jpg", "--target", "dog"], "unknown class 'dog'; this model's classes are 0=background"),
        (["cutout", "{photo}", "--out", "{tmp}/o.jpg"], "cannot hold; write .png"),
        (["blur", "{tmp}/missing.mp4", "--out", "{tmp}/o.mp4"], "missing.mp4: no such file or folder"),
        (["blur", "{photo}", "--out", "{tmp}/o.mp4"], "the output must be one too"),
    ],
)
def test_bad_input_is_one_clear_line(checkpoint, photo, tmp_path, capsys, args, expected):
    code = main(["apply", *[a.format(photo=photo, tmp=tmp_path) for a in args], "--checkpoint", str(checkpoint), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    usage = "no such file" not in expected  # a missing input is a data error (exit 1), the rest usage errors (2)
    assert code == (2 if usage else 1) and len(err) == 1 and expected in err[0], err
    assert not list(tmp_path.glob("o.*"))
