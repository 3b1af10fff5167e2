"""Shared fixtures. `one_thread` (autouse, in ONE_THREAD_FOLDERS); `shared_datasets`: the read-only real
data sets next to the repository; `make_data_folder`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# ../shared/datasets relative to the repository root (tests/ -> parents[1]).
SHARED_DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"


# The test folders whose tests run many small tensor operations (training, models, blocks, the
# transposed-convolution lesson): one
# intra-op thread each. On a shared 2-core machine a second OpenMP thread mostly waits for a core (a
# BatchNorm of 4×4×48×48 then takes 30 ms instead of 0.2 ms), and `make test` already runs two test
# workers. Results do not depend on it; the suite's time does.
ONE_THREAD_FOLDERS = ("cli", "engine", "models", "nn", "transposed")


@pytest.fixture(autouse=True)
def one_thread(request):
    if Path(str(request.node.fspath)).parent.name not in ONE_THREAD_FOLDERS:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """Path of ../shared/datasets (camvid, human_seg, coco128); skips the test when it is absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"shared data sets not found at {SHARED_DATASETS.resolve()} (expected ../shared/datasets next to the repository)")
    return SHARED_DATASETS.resolve()


@pytest.fixture
def make_data_folder(tmp_path):
    """Write a small folder-format data set and return its root.

    make_data_folder({"train": {"a": (image, mask), ...}}, classes=("background", "thing"))
    image: uint8 (H, W, 3) array (saved as PNG) or a Path/bytes written as is under its suffix;
    mask: uint8 (H, W) array saved as PNG, or None for no mask.
    """

    def make(splits: dict, classes=("background", "thing"), root: Path | None = None) -> Path:
        root = root or tmp_path / "data"
        root.mkdir(parents=True, exist_ok=True)
        (root / "classes.txt").write_text("\n".join(classes) + "\n")
        for split, samples in splits.items():
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "masks" / split).mkdir(parents=True, exist_ok=True)
            for sample_id, (image, mask) in samples.items():
                if isinstance(image, np.ndarray):
                    Image.fromarray(image).save(root / "images" / split / f"{sample_id}.png")
                else:
                    name, data = image  # (file name, bytes)
                    (root / "images" / split / name).write_bytes(data)
                if mask is not None:
                    Image.fromarray(mask).save(root / "masks" / split / f"{sample_id}.png")
        return root

    return make
