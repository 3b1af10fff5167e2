"""The built-in synthetic scene generator: the embedded default data set.

Each scene is a textured background with a few textured, noisy, overlapping shapes of four
classes. The mask is exact by construction: a shape's pixels are those whose centre lies inside
its geometry, painted in drawing order, so a later shape occludes an earlier one in the image and
in the mask alike. Deterministic: scene `i` of seed `s` is always the same picture.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tqdm import tqdm

CLASSES = ("background", "disc", "square", "triangle", "bar")


@dataclass(frozen=True)
class Shape:
    """One object: class index and geometry in pixel units (centre, size, rotation in radians)."""

    class_id: int
    cx: float
    cy: float
    size: float
    angle: float


def _rotated(xs, ys, shape: Shape):
    """Pixel-centre coordinates in the shape's own frame (origin at its centre, axes rotated)."""
    dx, dy = xs - shape.cx, ys - shape.cy
    cos, sin = np.cos(shape.angle), np.sin(shape.angle)
    return cos * dx + sin * dy, -sin * dx + cos * dy


def shape_region(shape: Shape, height: int, width: int) -> np.ndarray:
    """Boolean (H, W): pixels whose centre lies inside the shape."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    u, v = _rotated(xs, ys, shape)
    r = shape.size
    name = CLASSES[shape.class_id]
    if name == "disc":
        return u**2 + v**2 <= r**2
    if name == "square":
        return (np.abs(u) <= r) & (np.abs(v) <= r)
    if name == "triangle":  # equilateral, circumradius r: inside all three edges' half-planes
        inside = np.ones((height, width), dtype=bool)
        for k in range(3):
            theta = 2 * np.pi * k / 3
            inside &= np.cos(theta) * u + np.sin(theta) * v <= r / 2
        return inside
    if name == "bar":  # long thin rectangle
        return (np.abs(u) <= 1.8 * r) & (np.abs(v) <= 0.3 * r)
    raise ValueError(f"no geometry for class {shape.class_id}")


# Each object class has a typical hue (as sky tends to blue and grass to green), varied by ±25°;
# the background may take any colour. Shape and colour together identify a class.
CLASS_HUES = {"disc": 0.0, "square": 1 / 3, "triangle": 2 / 3, "bar": 1 / 6}


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6) % 6
    return v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)


def _object_colour(rng: np.random.Generator, class_id: int, avoid: list[np.ndarray], min_distance: float = 0.35) -> np.ndarray:
    """A colour of the class's hue family, at least `min_distance` (RGB, [0, 1]³) from each colour in
    `avoid` — what lies under the object — when a few draws can find one, so objects stand out."""
    best, best_distance = None, -1.0
    for _ in range(20):
        hue = (CLASS_HUES[CLASSES[class_id]] + rng.uniform(-25, 25) / 360) % 1.0
        colour = _hsv_to_rgb(hue, rng.uniform(0.45, 1.0), rng.uniform(0.45, 1.0))
        distance = min(np.linalg.norm(colour - a) for a in avoid)
        if distance >= min_distance:
            return colour
        if distance > best_distance:
            best, best_distance = colour, distance
    return best


def _texture(rng: np.random.Generator, height: int, width: int, base: np.ndarray) -> np.ndarray:
    """A random smooth colour field (H, W, 3) in [0, 1] around `base`: gradient plus stripes or blotches."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    gradient = rng.uniform(-0.4, 0.4, size=3) * (xs[..., None] / width - 0.5) + rng.uniform(-0.4, 0.4, size=3) * (ys[..., None] / height - 0.5)
    kind = rng.integers(3)
    if kind == 0:  # stripes
        frequency, direction = rng.uniform(0.05, 0.4), rng.uniform(0, np.pi)
        pattern = np.sin(frequency * (np.cos(direction) * xs + np.sin(direction) * ys))[..., None]
    elif kind == 1:  # blotches: a few Gaussian bumps
        pattern = np.zeros((height, width, 1))
        for _ in range(4):
            cy, cx, s = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(4, 20)
            pattern[..., 0] += np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * s * s))
        pattern = pattern / max(pattern.max(), 1e-6) * 2 - 1
    else:  # flat
        pattern = np.zeros((height, width, 1))
    amplitude = rng.uniform(0.0, 0.2, size=3)
    return np.clip(base + gradient + amplitude * pattern, 0, 1)


def random_shapes(rng: np.random.Generator, height: int, width: int, max_objects: int = 5) -> list[Shape]:
    count = int(rng.integers(1, max_objects + 1))
    scale = min(height, width)
    return [
        Shape(
            class_id=int(rng.integers(1, len(CLASSES))),
            cx=float(rng.uniform(0.1, 0.9) * width),
            cy=float(rng.uniform(0.1, 0.9) * height),
            size=float(rng.uniform(0.1, 0.22) * scale),
            angle=float(rng.uniform(0, np.pi)),
        )
        for _ in range(count)
    ]


def render_scene(seed: int, height: int = 128, width: int = 128) -> tuple[np.ndarray, np.ndarray, list[Shape]]:
    """One scene: image uint8 (H, W, 3), mask uint8 (H, W), and the shapes in drawing order."""
    rng = np.random.default_rng(seed)
    colours = [rng.uniform(0.05, 0.95, size=3)]
    image = _texture(rng, height, width, colours[0])
    mask = np.zeros((height, width), dtype=np.uint8)
    shapes = random_shapes(rng, height, width)
    for shape in shapes:
        region = shape_region(shape, height, width)
        colours.append(_object_colour(rng, shape.class_id, colours))
        image[region] = _texture(rng, height, width, colours[-1])[region]
        mask[region] = shape.class_id
    image += rng.normal(0, rng.uniform(0.0, 0.06), size=image.shape)  # sensor noise
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8), mask, shapes


def generate_dataset(out: str | Path, train: int = 320, val: int = 80, size: int = 128, seed: int = 0, progress: bool = True,
                     foreground: str | None = None) -> Path:
    """Write a synthetic set in the folder format (classes.txt, images/<split>, masks/<split>).

    foreground: one class name ("disc", ...) for a two-class set of the same scenes: background, and
        that class; the other shapes are background (a foreground-versus-everything-else problem,
        for binary models). None: all five classes.
    A manifest records the arguments; a folder already holding the same set is left as it is.
    """
    out = Path(out)
    if foreground is not None and foreground not in CLASSES[1:]:
        raise ValueError(f"foreground must be one of {', '.join(CLASSES[1:])}, got {foreground!r}")
    manifest = {"generator": "pixelseg.data.synthetic", "version": 1, "train": train, "val": val, "size": size, "seed": seed}
    if foreground is not None:
        manifest["foreground"] = foreground
    manifest_path = out / "synthetic.json"
    if manifest_path.is_file() and json.loads(manifest_path.read_text()) == manifest:
        return out
    classes = CLASSES if foreground is None else ("background", foreground)
    (out / "classes.txt").parent.mkdir(parents=True, exist_ok=True)
    (out / "classes.txt").write_text("\n".join(classes) + "\n")
    jobs = [("train", i) for i in range(train)] + [("val", i) for i in range(val)]
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "masks" / split).mkdir(parents=True, exist_ok=True)
    # Train and val scenes come from disjoint seed ranges, so no scene is in both.
    for split, i in tqdm(jobs, desc="generating scenes", disable=not progress, unit="img"):
        scene_seed = seed * 1_000_003 + (i if split == "train" else 500_000 + i)
        image, mask, _ = render_scene(scene_seed, size, size)
        if foreground is not None:
            mask = (mask == CLASSES.index(foreground)).astype(np.uint8)
        Image.fromarray(image).save(out / "images" / split / f"{i:05d}.png")
        Image.fromarray(mask).save(out / "masks" / split / f"{i:05d}.png")
    manifest_path.write_text(json.dumps(manifest))
    return out


