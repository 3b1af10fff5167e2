import numpy as np
import pytest
from PIL import Image

from pixelseg.errors import DataError
from pixelseg.inference.inputs import expand_inputs, split_media


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "photos").mkdir()
    for name in ("b.jpg", "a.png", ".hidden.png", "notes.txt"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "photos" / name, format="PNG")
    (tmp_path / "clip.mp4").write_bytes(b"")
    return tmp_path


def test_folders_files_and_globs(tree):
    assert [p.name for p in expand_inputs([tree / "photos"])] == ["a.png", "b.jpg"]
    assert [p.name for p in expand_inputs([str(tree / "photos" / "*.jpg"), tree / "clip.mp4"])] == ["b.jpg", "clip.mp4"]
    assert [p.name for p in expand_inputs([tree / "photos", tree / "photos" / "a.png"])] == ["a.png", "b.jpg"]  # once each
    images, videos = split_media(expand_inputs([tree / "photos", tree / "clip.mp4"]))
    assert [p.name for p in images] == ["a.png", "b.jpg"] and [p.name for p in videos] == ["clip.mp4"]


def test_clear_errors(tree):
    with pytest.raises(DataError, match="nope: no such file or folder"):
        expand_inputs([tree / "nope"])
    with pytest.raises(DataError, match=r"\*\.gif: the pattern matches no images"):
        expand_inputs([str(tree / "*.gif")])
    with pytest.raises(DataError, match=r"notes\.txt: not an image or a video"):
        expand_inputs([tree / "photos" / "notes.txt"])
    (tree / "other").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tree / "other" / "a.png")
    with pytest.raises(DataError, match="same name as"):
        expand_inputs([tree / "photos", tree / "other"])
