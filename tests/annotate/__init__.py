"""Helpers for the annotate tests: a folder of synthetic photos, the crafted model of tests/serve."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.serve import CLASSES, scene, write_checkpoint  # noqa: F401  (re-exported for the tests)


def photo_folder(root: Path, count: int = 3, height: int = 48, width: int = 64, split: str | None = "train") -> list[np.ndarray]:
    """`count` scenes as PNGs in root/images/<split>/ (split None: directly in root); returns the pictures."""
    folder = root / "images" / split if split else root
    folder.mkdir(parents=True, exist_ok=True)
    pictures = []
    for i in range(count):
        image, _ = scene(20 + i, height, width)
        Image.fromarray(image).save(folder / f"img{i}.png")
        pictures.append(image)
    return pictures
