"""inference.atomic: is_complete tells a whole output from a missing, empty or short one."""
import io

import numpy as np
import pytest
from PIL import Image

from pixelseg.inference.atomic import is_complete, save_image, unfinished


def encoded(fmt: str, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("suffix, fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP")])
def test_whole_files_and_folders_are_complete(tmp_path, suffix, fmt):
    path = tmp_path / f"a{suffix}"
    path.write_bytes(encoded(fmt))
    assert is_complete(path)
    (tmp_path / "frames").mkdir()
    assert is_complete(tmp_path / "frames")


@pytest.mark.parametrize("suffix, fmt", [(".png", "PNG"), (".jpg", "JPEG")])
@pytest.mark.parametrize("seed", range(5))
def test_every_cut_of_a_file_is_incomplete(tmp_path, suffix, fmt, seed):
    data = encoded(fmt, seed)
    rng = np.random.default_rng(seed)
    for cut in [0, 1, len(data) - 1, len(data) - 2, *rng.integers(2, len(data) - 2, 20)]:
        path = tmp_path / f"cut{cut}{suffix}"
        path.write_bytes(data[:cut])
        assert not is_complete(path), cut


def test_missing_and_empty_are_incomplete(tmp_path):
    assert not is_complete(tmp_path / "nothing.png")
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert not is_complete(tmp_path / "empty.mp4")


def test_unfinished_lists_inputs_missing_any_whole_output_in_order(tmp_path):
    mask = save_image(np.zeros((4, 4), np.uint8), tmp_path / "b.png")
    overlay = save_image(np.zeros((4, 4, 3), np.uint8), tmp_path / "b_overlay.jpg", quality=90)
    (tmp_path / "c.png").write_bytes(mask.read_bytes()[:10])
    planned = {tmp_path / "c.jpg": [tmp_path / "c.png"], tmp_path / "b.jpg": [mask, overlay], tmp_path / "a.jpg": [tmp_path / "a.png", overlay]}
    assert unfinished(planned) == [tmp_path / "c.jpg", tmp_path / "a.jpg"]
