"""The folder format every part of pixelseg reads natively::

    DIR/classes.txt              line i = name of class i
    DIR/images/<split>/<id>.jpg  (or .png, .jpeg, .bmp, .tif, .webp)
    DIR/masks/<split>/<id>.png   single-channel uint8, value = class index, 255 = ignore

Everything here fails loudly: the message of every `DataError` names the file and the problem.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from pixelseg.errors import DataError

IGNORE_INDEX = 255
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# ImageNet statistics: the usual choice, and what pretrained encoders expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Sample:
    id: str
    image_path: Path
    mask_path: Path | None


def read_classes(root: str | Path) -> list[str]:
    """Class names from DIR/classes.txt, one per line, in index order."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    path = root / "classes.txt"
    if not path.is_file():
        raise DataError(f"{path}: missing (a data folder needs classes.txt, one class name per line)")
    return read_class_file(path)


def read_class_file(path: str | Path) -> list[str]:
    """A class list: line i names class i (classes.txt, and the --classes of `pixelseg data convert`).

    The one rule for both: UTF-8 (a BOM is dropped), trailing blank lines allowed, a blank line
    inside refused (dropping it would shift every later class id), no name twice, at most 255 names.
    """
    path = Path(path)
    # utf-8-sig: a BOM written by some editors must not become part of class 0's name.
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    except FileNotFoundError:
        raise DataError(f"{path}: class list not found") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: unreadable class list, not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8") from None
    except OSError as err:
        raise DataError(f"{path}: unreadable class list ({err.strerror or err})") from None
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise DataError(f"{path}: no class names in it")
    if "" in lines:
        raise DataError(f"{path}: line {lines.index('') + 1} is blank (line i names class i; remove it or name the class)")
    seen: dict[str, int] = {}
    for i, name in enumerate(lines):
        if name in seen:
            raise DataError(f"{path}: class {name!r} is named twice (lines {seen[name] + 1} and {i + 1})")
        seen[name] = i
    if len(lines) > 255:
        raise DataError(f"{path}: {len(lines)} classes, but masks are uint8 with 255 reserved for ignore (at most 255 classes)")
    return lines


def not_a_file(path: Path) -> str:
    """What a path that is not a regular file is, for a message."""
    if path.is_dir():
        return "a folder"
    return "a symbolic link that loops or points nowhere" if path.is_symlink() else "not a regular file"


def list_samples(root: str | Path, split: str, require_masks: bool = True) -> list[Sample]:
    """Pair DIR/images/<split>/<id>.* with DIR/masks/<split>/<id>.png, sorted by id.

    Splits joined by "+" ("train+val": the final fit once a recipe is chosen) are listed one after
    the other; an id in two of them is refused, since it would be one photo counted twice.
    """
    if "+" in split:
        samples, seen = [], {}
        for part in split.split("+"):
            for sample in list_samples(root, part, require_masks):
                if sample.id in seen:
                    raise DataError(f"{sample.image_path}: id {sample.id!r} is in splits {seen[sample.id]!r} and {part!r} of {split!r}")
                seen[sample.id] = part
                samples.append(sample)
        return samples
    root = Path(root)
    image_dir, mask_dir = root / "images" / split, root / "masks" / split
    if not image_dir.is_dir():
        raise DataError(f"{image_dir}: image folder for split {split!r} not found")
    # Hidden files (macOS "._x.jpg" resource forks and the like) are not images.
    images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))
    for path in images:  # named like an image but not one: say so, rather than "no mask for this image"
        if not path.is_file():
            raise DataError(f"{path}: {not_a_file(path)}, named like an image (a split holds image files only; move or remove it)")
    if not images:
        raise DataError(f"{image_dir}: no images ({', '.join(IMAGE_EXTENSIONS)}) in split {split!r}")
    if require_masks and not mask_dir.is_dir():
        raise DataError(f"{mask_dir}: mask folder for split {split!r} not found (every image needs a mask there)")
    seen: dict[str, Path] = {}
    samples = []
    for image_path in images:
        if image_path.stem in seen:
            raise DataError(f"{image_path}: two images share the id {image_path.stem!r} (also {seen[image_path.stem].name})")
        seen[image_path.stem] = image_path
        mask_path = mask_dir / f"{image_path.stem}.png"
        if not mask_path.is_file():
            if require_masks:
                raise DataError(f"{image_path}: no mask for this image (expected {mask_path})")
            mask_path = None
        samples.append(Sample(image_path.stem, image_path, mask_path))
    return samples


def image_to_rgb(img: Image.Image) -> np.ndarray:
    """An opened PIL image as RGB uint8 (H, W, 3), EXIF orientation applied.

    Grayscale, palette, RGBA (alpha dropped) and 16-bit images are converted to 8-bit RGB.
    Decoding happens here, so a damaged file raises here (OSError and friends).
    """
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit / 32-bit integer: scale the full range into 8 bits instead of clipping.
        array = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or array.max() > 255 else 255.0
        gray = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    # np.array, not np.asarray: PIL hands out read-only buffers, and torch.from_numpy warns on those.
    return np.array(img.convert("RGB"))


def load_image(path: str | Path) -> np.ndarray:
    """Read any common image file as RGB uint8 (H, W, 3), as `image_to_rgb` converts it."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            return image_to_rgb(img)
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"{path}: unreadable image ({err})") from None


def load_mask(path: str | Path, num_classes: int | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read an index mask as uint8 (H, W) and check it.

    Args:
        num_classes: if given, every value must be < num_classes or 255 (ignore).
        size: if given, the (H, W) the mask must have (its image's size).
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            stored_as = img.format
            if img.mode == "1":  # 1-bit PNG: PIL reads it as bool; False/True are classes 0/1
                img = img.convert("L").point(lambda v: 1 if v else 0)
            if img.mode not in ("L", "P", "I;16", "I;16B", "I;16L", "I"):
                raise DataError(
                    f"{path}: mask has mode {img.mode} with {len(img.getbands())} channels; masks must be single-channel "
                    "class indices (convert colour masks with `pixelseg data convert --from color-masks`)"
                )
            if stored_as != "PNG":  # e.g. a JPEG renamed .png: lossy values between classes at every edge
                raise DataError(f"{path}: mask is {stored_as}-compressed, not PNG (lossy compression puts values between classes "
                                "at every edge); save masks as PNG")
            mask = np.array(img)  # a writable copy (see load_image)
    except FileNotFoundError:
        raise DataError(f"{path}: mask file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"{path}: unreadable mask ({err})") from None
    if mask.dtype != np.uint8:
        if mask.max() > 255 or mask.min() < 0:
            raise DataError(f"{path}: mask values up to {mask.max()} do not fit uint8 class indices")
        mask = mask.astype(np.uint8)
    if size is not None and mask.shape != tuple(size):
        raise DataError(f"{path}: mask is {mask.shape[1]}×{mask.shape[0]} (W×H) but its image is {size[1]}×{size[0]}")
    problem = None if num_classes is None else class_id_problem(mask, num_classes)
    if problem:
        raise DataError(f"{path}: {problem}")
    return mask


def class_id_problem(mask: np.ndarray, num_classes: int) -> str | None:
    """What is wrong with a mask's values for `num_classes` classes (each < num_classes or 255 =
    ignore), or None. The one check for mask files and for masks uploaded to the server."""
    bad = np.unique(mask[(mask >= num_classes) & (mask != IGNORE_INDEX)])
    if not bad.size:
        return None
    return (f"mask values {bad[:10].tolist()} are not class ids (there are {num_classes} classes, 0..{num_classes - 1}, "
            "and 255 = ignore)")


def normalize(image: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> float32, scaled to [0, 1] and standardised per channel."""
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    # Contiguous first: a permuted (channels-last) view made the float arithmetic 2.6× slower
    # (0.42 against 0.16 ms for a 224×168 frame), and ONNX Runtime would copy it again.
    return (image.contiguous().float() / 255.0 - mean_t) / std_t


@contextmanager
def single_threaded():
    """Run torch on one intra-op thread inside the block, then restore the previous count.

    Per-image transforms are too small to gain from splitting across threads, and on a busy
    machine the threads mostly wait for each other: on 2 shared cores, CamVid loading in the main
    process (num_workers=0) ran at 26 images/s with 2 threads and 96 with 1 (bench/data.py).
    DataLoader workers already run single-threaded, so this only acts in the main process.
    The setting is process-wide: do not use the dataset from a thread while another runs a model.
    """
    threads = torch.get_num_threads()
    if threads == 1 or torch.utils.data.get_worker_info() is not None:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class SegmentationFolder(torch.utils.data.Dataset):
    """A split of a folder-format data set.

    Returns ``(image, mask)``: image float32 (3, H, W) normalised with `mean`/`std`, mask int64 (H, W).
    `transform(image_uint8_chw, mask_hw) -> (image, mask)` runs on uint8 tensors before normalising.

    Every mask is checked on first read (size against its image, values against the class list).
    Decoded pairs are kept in memory up to `cache_bytes` (default 2 GiB; 0 turns caching off), so
    later epochs skip JPEG/PNG decoding. The cache belongs to the process that filled it: call
    `check_all()` before building a DataLoader so that worker processes inherit a full cache
    (fork shares it copy-on-write) instead of each filling, and then losing, a private copy.
    """

    def __init__(self, root, split: str = "train", transform=None, mean=IMAGENET_MEAN, std=IMAGENET_STD, cache_bytes: int = 2 << 30,
                 samples: list[Sample] | None = None):
        self.root, self.split, self.transform = Path(root), split, transform
        self.classes = read_classes(self.root)
        # `samples`: a chosen list (a group split, data/groups.py) instead of the split folder's files.
        self.samples = list_samples(self.root, split) if samples is None else samples
        self.mean, self.std = tuple(mean), tuple(std)
        self.cache_bytes = cache_bytes
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cached_bytes = 0

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The checked, decoded pair: image uint8 (H, W, 3), mask uint8 (H, W)."""
        if index in self._cache:
            return self._cache[index]
        sample = self.samples[index]
        image = load_image(sample.image_path)
        mask = load_mask(sample.mask_path, self.num_classes, size=image.shape[:2])
        size = image.nbytes + mask.nbytes
        if self._cached_bytes + size <= self.cache_bytes:
            self._cache[index] = (image, mask)
            self._cached_bytes += size
        return image, mask

    def __getitem__(self, index: int):
        image, mask = self.load(index)
        image_t = torch.from_numpy(image).permute(2, 0, 1)  # (3, H, W) uint8, a view: no copy
        mask_t = torch.from_numpy(mask)
        with single_threaded():
            if self.transform is not None:
                image_t, mask_t = self.transform(image_t, mask_t)
            return normalize(image_t, self.mean, self.std), mask_t.long()

    def check_all(self) -> None:
        """Read every pair once so that a bad file fails now, not in the middle of an epoch."""
        for index in range(len(self)):
            self.load(index)
