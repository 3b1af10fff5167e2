"""`pixelseg explain ...`, run in-process: what it prints, the pictures it writes, the numbers it reports."""
from __future__ import annotations

import re
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pixelseg.cli import build_parser, main
from pixelseg.transposed.checkerboard import checkerboard_energy, explain_checkerboard, synthetic_image
from pixelseg.transposed.upsampling import explain_upsampling

MAX_SECONDS = 10  # per explain command (the budget)
MAX_PNG_BYTES = 200_000


def _run(argv: list[str]) -> tuple[int, float]:
    """Exit code and seconds of `pixelseg ARGV`, not counting the one-off import of every command module
    (that is the CLI's start-up, the same for all commands, and not what the 10 s budget is about)."""
    build_parser()
    start = time.perf_counter()
    code = main(argv)
    return code, time.perf_counter() - start


def _check_pngs(folder, names):
    for name in names:
        path = folder / name
        assert path.is_file(), name
        assert path.stat().st_size < MAX_PNG_BYTES, (name, path.stat().st_size)
        with Image.open(path) as im:
            assert im.format == "PNG" and min(im.size) > 100


def test_transposed_conv_textbook_example(tmp_path, capsys):
    code, seconds = _run(["explain", "transposed-conv", "--input", "[[1,2],[3,4]]", "--kernel", "[[1,0],[1,1]]",
                          "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert seconds < MAX_SECONDS
    assert "[[1,2,0],[4,7,2],[3,7,4]]" in out
    # every step is printed
    for step in ("stamps a scaled copy of the kernel", "Step 1. zero insertion", "Step 2. border padding",
                 "Step 3. flip the kernel", "Step 4. slide", "Result (3x3)", "C (4x9)"):
        assert step in out, step
    assert "out[1,1] = 1·1 + 2·1 + 3·0 + 4·1 = 7" in out
    assert "Cᵀ · [1,2,3,4] = [1,2,0,4,7,2,3,7,4]" in out
    assert "agree (largest difference 0)" in out

    _check_pngs(tmp_path, ["01_input.png", "02_scatter.png", "03_zero_insertion.png", "04_padding.png",
                           "05_flipped_kernel.png", "06_sliding.png", "07_result.png", "08_matrix.png"])
    with Image.open(tmp_path / "transposed_conv.gif") as gif:
        assert gif.format == "GIF" and gif.is_animated
        assert gif.n_frames == 3 * 3 + 1  # one per output value, then the finished result


def test_transposed_conv_with_stride_padding_output_padding(tmp_path, capsys):
    x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    k = [[1, 0, -1], [2, 1, 0], [0, 1, 1]]
    code, seconds = _run(["explain", "transposed-conv", "--input", str(x), "--kernel", str(k), "--stride", "2",
                          "--padding", "1", "--output-padding", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and seconds < MAX_SECONDS
    expected = F.conv_transpose2d(torch.tensor([[x]], dtype=torch.float64), torch.tensor([[k]], dtype=torch.float64),
                                  stride=2, padding=1, output_padding=1)[0, 0]
    assert "Result (6x6)" in out
    printed = re.search(r"^  (\[\[.*\]\])$", out, re.MULTILINE).group(1)
    assert eval(printed) == expected.int().tolist()  # noqa: S307 - our own output, a nested list of ints
    assert "top 1, bottom 2, left 1, right 2" in out  # d(k-1)-p = 1, plus output_padding at the bottom/right
    with Image.open(tmp_path / "transposed_conv.gif") as gif:
        assert gif.n_frames == 6 * 6 + 1


def test_transposed_conv_pairs_and_dilation(tmp_path, capsys):
    code, _ = _run(["explain", "transposed-conv", "--input", "[[1,2,3],[4,5,6]]", "--kernel", "[[1,2],[3,4]]",
                    "--stride", "2,1", "--dilation", "1,2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    expected = F.conv_transpose2d(torch.tensor([[[[1.0, 2, 3], [4, 5, 6]]]]), torch.tensor([[[[1.0, 2], [3, 4]]]]),
                                  stride=(2, 1), dilation=(1, 2))[0, 0]
    assert f"Result ({expected.shape[0]}x{expected.shape[1]})" in out


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--input", "[[1,2],[3]]"], "--input must be a rectangular 2-D list"),
        (["--input", "[[1,2"], "--input must be a nested list"),
        (["--kernel", "7"], "--kernel must be a non-empty 2-D list"),
        (["--stride", "2", "--output-padding", "2"], "output_padding (2) must be smaller"),
        (["--padding", "3"], "crops everything"),
    ],
)
def test_transposed_conv_bad_input_is_a_clear_error(tmp_path, capsys, flags, message):
    code = main(["explain", "transposed-conv", *flags, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err


def test_unparsable_stride_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "transposed-conv", "--stride", "two"])
    assert exit_info.value.code == 2
    assert "expected an int or a pair" in capsys.readouterr().err


def test_upsampling(tmp_path, capsys):
    code, seconds = _run(["explain", "upsampling", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and seconds < MAX_SECONDS
    for word in ("nearest", "bilinear", "transposed conv", "max-unpooling", "indices of the maxima"):
        assert word in out
    _check_pngs(tmp_path, ["upsampling.png"])


def test_upsampling_numbers(tmp_path):
    n = explain_upsampling(out_dir=tmp_path).numbers
    pooled = torch.from_numpy(n["pooled"])[None, None]
    assert n["pooled"].shape == (4, 4) and n["nearest"].shape == (8, 8)
    np.testing.assert_array_equal(n["nearest"], np.kron(n["pooled"], np.ones((2, 2))))
    # the bilinear kernel makes the transposed conv bilinear interpolation away from the border
    np.testing.assert_allclose(n["transposed_bilinear"][1:-1, 1:-1], n["bilinear"][1:-1, 1:-1], atol=1e-12)
    # max-unpooling puts each max back at its index and zeros elsewhere
    flat = n["unpooled"].reshape(-1)
    assert set(np.flatnonzero(flat)) <= set(n["indices"].reshape(-1).astype(int))
    np.testing.assert_array_equal(flat[n["indices"].reshape(-1).astype(int)], n["pooled"].reshape(-1))
    # ones kernel, k=3 s=2: the top-left 2x2 block holds 1, 2 and 4 summed values (uneven overlap)
    p = n["pooled"]
    assert n["transposed_ones"][0, 0] == p[0, 0]
    assert n["transposed_ones"][1, 1] == p[0, 0] + p[0, 1] + p[1, 0] + p[1, 1]
    assert torch.equal(torch.from_numpy(n["bilinear"]),
                       F.interpolate(pooled, scale_factor=2, mode="bilinear", align_corners=False)[0, 0])


def test_checkerboard_cli_default_image(tmp_path, capsys):
    code, seconds = _run(["explain", "checkerboard", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and seconds < MAX_SECONDS
    assert "transposed conv k=3" in out and "transposed conv k=4" in out and "resize-conv" in out
    _check_pngs(tmp_path, ["checkerboard.png"])


def test_checkerboard_numbers(tmp_path):
    Image.fromarray((synthetic_image(64) * 255).astype(np.uint8)).save(tmp_path / "picture.png")
    n = explain_checkerboard(image=tmp_path / "picture.png", out_dir=tmp_path / "out").numbers
    assert n["resize/constant"] < 1e-12  # a constant stays constant through resize-convolution
    assert n["tconv3/constant"] > 1e-3 and n["tconv4/constant"] > 1e-3
    assert n["tconv3/constant"] > 1000 * max(n["resize/constant"], 1e-15)
    assert n["tconv3/image"] > 10 * n["resize/image"]
    assert n["tconv4/image"] > 10 * n["resize/image"]


def test_checkerboard_missing_image(tmp_path, capsys):
    code = main(["explain", "checkerboard", "--image", str(tmp_path / "nope.png"), "--out", str(tmp_path)])
    assert code == 1  # a data error: the file named could not be read
    assert "image not found" in capsys.readouterr().err


def test_checkerboard_unreadable_image(tmp_path, capsys):
    (tmp_path / "bad.png").write_text("not an image")
    code = main(["explain", "checkerboard", "--image", str(tmp_path / "bad.png"), "--out", str(tmp_path)])
    assert code == 1  # a data error: the file named could not be read
    assert "cannot read" in capsys.readouterr().err


def test_checkerboard_energy_exact():
    i, j = np.mgrid[0:32, 0:32]
    assert checkerboard_energy(np.full((32, 32), 3.0), margin=0) == 0.0
    # 1 + 0.5·(-1)^(i+j): pattern energy 0.25 of a total 1 + 0.25
    assert checkerboard_energy(1 + 0.5 * (-1.0) ** (i + j), margin=0) == pytest.approx(0.2, abs=1e-12)
    # stripes count too: 0.5·(-1)^i alone
    assert checkerboard_energy(1 + 0.5 * (-1.0) ** i, margin=0) == pytest.approx(0.2, abs=1e-12)
    # a period-4 pattern has no period-2 energy
    assert checkerboard_energy(1 + np.where(i % 4 < 2, 0.5, -0.5), margin=0) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="too small"):
        checkerboard_energy(np.ones((8, 8)), margin=4)
