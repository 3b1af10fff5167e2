"""Copy-paste compositing: people pasted onto person-free backgrounds, with exact masks.

A person model for video calls needs people framed like a video call (head and shoulders filling
the frame) on many backgrounds; the photo sets have few. This module makes such images from cut-outs
(RGBA, the alpha is the person) and backgrounds:

    person = cutouts[i] (or a photo's person, its mask as alpha)        # (h, w, 4) uint8
    scaled and placed for a framing, colours pulled toward the background's, edge softened
    image  = alpha * person + (1 - alpha) * background                   # (H, W, 3) uint8
    mask   = alpha >= 0.5                                               # exact, by construction

Every composite is a function of its seed, so a data set is reproduced by one command:

    pixelseg data composite --cutouts ../shared/datasets/person_cutouts \
        --photos ../shared/datasets/human_seg --count 4000 --out runs/person-data
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from pixelseg.data.folder import list_samples, load_image, load_mask, read_classes
from pixelseg.errors import DataError

# How much of the person's height the frame shows, and where the top of the head sits (fractions of
# the frame height). A video call is mostly head and shoulders; whole bodies keep the model general.
FRAMINGS = {
    "head_and_shoulders": {"visible": (0.30, 0.50), "top": (0.04, 0.25), "weight": 0.5},
    "half_body": {"visible": (0.50, 0.80), "top": (0.03, 0.20), "weight": 0.3},
    "full_body": {"visible": (1.0, 1.0), "top": (0.05, 0.35), "weight": 0.2},
}
# Cut-outs are small (at most 252 px tall): enlarged more than this they turn to mush, and the model
# would learn that people are blurry. The frame is made smaller instead.
MAX_UPSCALE = 2.5
FRAME_HEIGHT = (240, 360)
PHOTO_SHARE = 0.35  # of the composites, the share whose person comes from a photo, not a cut-out


@dataclass
class Composite:
    image: np.ndarray  # (H, W, 3) uint8
    alpha: np.ndarray  # (H, W) float32 in [0, 1], the alpha that blended the person in
    mask: np.ndarray   # (H, W) uint8: 1 where alpha >= 0.5, else 0


def load_cutouts(folder: str | Path) -> list[np.ndarray]:
    """Every RGBA PNG in `folder`, (h, w, 4) uint8, cropped to its alpha's bounding box."""
    paths = sorted(Path(folder).glob("*.png"))
    if not paths:
        raise DataError(f"{folder}: no .png cut-outs in it")
    cutouts = []
    for path in paths:
        try:
            with Image.open(path) as img:
                if "A" not in img.getbands():
                    raise DataError(f"{path}: a cut-out needs an alpha channel (mode {img.mode})")
                rgba = np.array(img.convert("RGBA"))
        except (OSError, SyntaxError, ValueError) as err:
            raise DataError(f"{path}: unreadable cut-out ({err})") from None
        person = _crop_to_alpha(rgba)
        if person is None:
            raise DataError(f"{path}: the alpha channel is empty")
        cutouts.append(person)
    return cutouts


def load_photo_people(root: str | Path, split: str = "train", person_class: int = 1) -> list[np.ndarray]:
    """The people of a folder-format split as cut-outs: each photo cropped to its person, the mask as alpha."""
    read_classes(root)
    people = []
    for sample in list_samples(root, split):
        image = load_image(sample.image_path)
        mask = load_mask(sample.mask_path, size=image.shape[:2])
        alpha = np.where(mask == person_class, 255, 0).astype(np.uint8)
        person = _crop_to_alpha(np.dstack([image, alpha]))
        if person is not None:
            people.append(person)
    if not people:
        raise DataError(f"{root}: no pixels of class {person_class} in split {split!r}")
    return people


def load_backgrounds(folder: str | Path) -> list[np.ndarray]:
    """Every image in `folder` as RGB (h, w, 3) uint8."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise DataError(f"{folder}: no background images in it")
    return [load_image(path) for path in paths]


def _crop_to_alpha(rgba: np.ndarray) -> np.ndarray | None:
    rows, cols = np.nonzero(rgba[..., 3] > 0)
    if rows.size == 0:
        return None
    return rgba[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def make_composite(seed: int, people: list[np.ndarray], backgrounds: list[np.ndarray]) -> Composite:
    """Composite number `seed`: the same seed and inputs give the same pixels."""
    rng = np.random.default_rng(seed)
    person = people[rng.integers(len(people))]
    background = backgrounds[rng.integers(len(backgrounds))]
    names = list(FRAMINGS)
    framing = FRAMINGS[names[rng.choice(len(names), p=[FRAMINGS[n]["weight"] for n in names])]]

    # The frame: the person's visible part fills it to the framing, enlarged at most MAX_UPSCALE.
    visible = rng.uniform(*framing["visible"])
    top = rng.uniform(*framing["top"])
    frame_h = int(rng.integers(*FRAME_HEIGHT))
    person_h = frame_h * (1 - top) / visible
    scale = min(person_h / person.shape[0], MAX_UPSCALE)
    frame_h = min(frame_h, max(96, round(person.shape[0] * scale * visible / (1 - top))))
    aspect = rng.choice([4 / 3, 16 / 9, 3 / 4, 1.0], p=[0.4, 0.3, 0.2, 0.1])
    frame_w = round(frame_h * aspect)
    scale *= rng.uniform(0.9, 1.1)
    h, w = max(8, round(person.shape[0] * scale)), max(4, round(person.shape[1] * scale))
    if rng.random() < 0.5:
        person = person[:, ::-1]
    resized = Image.fromarray(np.ascontiguousarray(person)).resize((w, h), Image.BICUBIC)
    rgba = np.asarray(resized)
    person_rgb, person_alpha = rgba[..., :3].astype(np.float32), rgba[..., 3]

    canvas = _cover(background, frame_h, frame_w, rng).astype(np.float32)     # (H, W, 3)
    # A softened edge so the paste has no hard cut line; the mask is taken from this same alpha.
    softened = Image.fromarray(person_alpha).filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    person_alpha = np.asarray(softened).astype(np.float32) / 255

    y0 = round(top * frame_h)
    x0 = round(rng.uniform(0.1, 0.9) * frame_w - w / 2)
    layer, alpha = place(person_rgb, person_alpha, y0, x0, frame_h, frame_w)

    # Colours matched: the person pulled part of the way toward the background's mean colour and
    # brightness, as one light falls on both in a real photo.
    inside = alpha > 0.5
    if inside.any():
        shift = canvas.reshape(-1, 3).mean(0) - layer[inside].mean(0)
        layer += rng.uniform(0.0, 0.35) * shift
    image = alpha[..., None] * layer + (1 - alpha[..., None]) * canvas
    image = np.clip(image + rng.normal(0, rng.uniform(0, 3), image.shape), 0, 255).astype(np.uint8)
    return Composite(image, alpha, (alpha >= 0.5).astype(np.uint8))


def place(person_rgb: np.ndarray, person_alpha: np.ndarray, top: int, left: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A person (h, w, 3) with its alpha (h, w) put with its top-left corner at (top, left) of a
    height × width frame, hanging over its edges as it may: (layer (H, W, 3), alpha (H, W)) float32,
    zero where the person is not."""
    h, w = person_alpha.shape
    alpha = np.zeros((height, width), np.float32)
    layer = np.zeros((height, width, 3), np.float32)
    ys, xs = slice(max(0, top), max(0, min(height, top + h))), slice(max(0, left), max(0, min(width, left + w)))
    if ys.stop > ys.start and xs.stop > xs.start:
        py, px = slice(ys.start - top, ys.stop - top), slice(xs.start - left, xs.stop - left)
        alpha[ys, xs] = person_alpha[py, px]
        layer[ys, xs] = person_rgb[py, px]
    return layer, alpha


def _cover(background: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of `background` scaled to cover (height, width)."""
    scale = max(height / background.shape[0], width / background.shape[1]) * rng.uniform(1.0, 1.5)
    h, w = max(height, round(background.shape[0] * scale)), max(width, round(background.shape[1] * scale))
    resized = np.asarray(Image.fromarray(background).resize((w, h), Image.BILINEAR))
    y, x = rng.integers(h - height + 1), rng.integers(w - width + 1)
    resized = resized[y : y + height, x : x + width]
    return resized[:, ::-1] if rng.random() < 0.5 else resized


def write_composites(out: str | Path, count: int, cutouts: str | Path, backgrounds: str | Path,
                     photos: str | Path | None = None, photo_repeat: int = 6, seed: int = 0, progress=None) -> dict:
    """A folder-format person data set at `out` (classes background, person).

    train: `count` composites (seeds seed .. seed+count-1) and, with `photos` (a folder-format person
    set), its own train photos `photo_repeat` times over, so real photos keep their weight among many
    composites; val: the photos' val split, as it is. Returns {split: images written}.
    """
    from pixelseg.data.convert import SplitWriter

    if count < 1:
        raise DataError(f"count must be at least 1, got {count}")
    people = load_cutouts(Path(cutouts) / "cutouts" if (Path(cutouts) / "cutouts").is_dir() else cutouts)
    background_dir = Path(backgrounds)
    scenes = load_backgrounds(background_dir)
    photo_people = load_photo_people(photos) if photos else []
    classes = ["background", "person"]
    written = {}
    with SplitWriter(out, "train", classes) as writer:
        steps = range(seed, seed + count)
        for index in progress(steps) if progress else steps:
            rng = np.random.default_rng([index, 1])
            pool = photo_people if photo_people and rng.random() < PHOTO_SHARE else people
            composite = make_composite(index, pool, scenes)
            buffer = io.BytesIO()
            Image.fromarray(composite.image).save(buffer, format="JPEG", quality=92)
            writer.add(f"composite-{index:06d}", buffer.getvalue(), composite.mask, f"composite seed {index}")
        if photos:
            for sample in list_samples(photos, "train"):
                mask = load_mask(sample.mask_path)
                for copy in range(photo_repeat):
                    writer.add(f"photo-{sample.id}-{copy}", sample.image_path, mask, sample.image_path)
        written["train"] = len(writer.ids)
    if photos:
        with SplitWriter(out, "val", classes) as writer:
            for sample in list_samples(photos, "val"):
                writer.add(sample.id, sample.image_path, load_mask(sample.mask_path), sample.image_path)
            written["val"] = len(writer.ids)
    return written
