"""`pixelseg data check`: read a whole folder-format data set and say loudly what is wrong with it.

Every image and mask is decoded once (two threads; PIL releases the GIL while decoding). Errors are
what would break or silently spoil training; warnings are what is suspicious but can be right.

Errors:   unreadable files, folders and broken links named like images, images without masks, masks that are not PNG or are JPEG-compressed,
          RGB masks, mask/image size mismatches, values that are not class ids (unknown ids; many
          stray values = a lossy or resized mask), the same image in two splits, a split whose masks
          are all 0/255 or all 255, a missing or bad classes.txt.
Warnings: 0/255 masks (a binary mask saved as 0/255 makes the object "ignore"), empty masks (all
          one class or all ignore), the same image twice in a split, masks without images, files
          that are skipped.
"""
from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from pixelseg.data.class_weights import ClassCounts, median_frequency_weights
from pixelseg.data.folder import IGNORE_INDEX, IMAGE_EXTENSIONS, load_image, not_a_file, read_classes
from pixelseg.errors import DataError

ERROR, WARNING = "error", "warning"
SHOWN_PER_KIND = 8  # findings of one kind printed before "... and N more"


@dataclass
class Finding:
    level: str  # ERROR or WARNING
    kind: str  # short name, e.g. "binary-0-255", for grouping and for tests
    path: Path | None
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.path}: {self.message}" if self.path else f"{self.level}: {self.message}"


@dataclass
class SplitStats:
    name: str
    counts: ClassCounts
    images: int = 0
    sizes: Counter = field(default_factory=Counter)  # (W, H) -> images


@dataclass
class Report:
    root: Path
    classes: list[str] | None
    splits: dict[str, SplitStats] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    def add(self, level: str, kind: str, path: Path | None, message: str) -> None:
        self.findings.append(Finding(level, kind, path, message))


@dataclass
class _Pair:
    """What one worker learns about one image/mask pair (no pixel arrays are kept)."""

    split: str
    image_path: Path | None
    mask_path: Path | None
    image_size: tuple[int, int] | None = None  # (H, W), EXIF orientation applied
    image_hash: str | None = None
    image_error: str | None = None
    mask_format: str | None = None
    mask_mode: str | None = None
    mask_size: tuple[int, int] | None = None
    histogram: np.ndarray | None = None  # (256,) value counts of a single-channel uint8 mask
    mask_error: str | None = None
    mask_max: int | None = None  # for 16-bit masks
    equal_channels: bool = False  # an RGB mask whose three channels are the same


def _inspect(pair: _Pair) -> _Pair:
    if pair.image_path is not None:
        try:
            image = load_image(pair.image_path)
            pair.image_size = image.shape[:2]
            # Decoded pixels, not file bytes: a copy re-saved with other metadata is still a copy.
            pair.image_hash = hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest() + f"{image.shape}"
        except DataError as err:
            pair.image_error = str(err).split(": ", 1)[-1]
    if pair.mask_path is not None:
        try:
            with Image.open(pair.mask_path) as img:
                pair.mask_format, pair.mask_mode = img.format, img.mode
                pair.mask_size = (img.height, img.width)
                if img.mode == "1":
                    img = img.convert("L").point(lambda v: 1 if v else 0)
                array = np.array(img)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            pair.mask_error = str(err)
            return pair
        if array.ndim == 3:
            pair.equal_channels = bool((array[..., :3] == array[..., :1]).all())
        elif array.dtype != np.uint8:
            pair.mask_max = int(array.max()) if array.size else 0
            if 0 <= array.min() and pair.mask_max <= 255:
                pair.histogram = np.bincount(array.astype(np.uint8).ravel(), minlength=256)
        else:
            pair.histogram = np.bincount(array.ravel(), minlength=256)
    return pair


def _files(folder: Path, report: Report, what: str) -> dict[str, Path]:
    """id -> file for the image-like files of `folder`; other files are reported and skipped."""
    files: dict[str, Path] = {}
    if not folder.is_dir():
        return files
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and not path.is_file():
            # `train` stops on these (data/folder.py list_samples): an error here too, not a skip.
            report.add(ERROR, "not-a-file", path, f"{not_a_file(path)}, named like an image (a split holds image files only)")
        elif path.is_dir():
            report.add(WARNING, "skipped", path, f"a folder inside {what}/; skipped (splits hold files only)")
        elif path.name.startswith("."):
            report.add(WARNING, "skipped", path, "hidden file; skipped")
        elif path.suffix.lower() not in IMAGE_EXTENSIONS:
            report.add(WARNING, "skipped", path, f"not an image ({', '.join(IMAGE_EXTENSIONS)}); skipped")
        elif path.stem in files:
            report.add(ERROR, "duplicate-id", path, f"two {what} share the id {path.stem!r} (also {files[path.stem].name})")
        else:
            files[path.stem] = path
    return files


def _pairs(root: Path, report: Report) -> list[_Pair]:
    images_root, masks_root = root / "images", root / "masks"
    if not images_root.is_dir():
        report.add(ERROR, "layout", images_root, "missing (a data folder holds images/<split>/ and masks/<split>/)")
    splits = sorted({p.name for base in (images_root, masks_root) if base.is_dir() for p in base.iterdir() if p.is_dir()})
    if images_root.is_dir() and not splits:
        report.add(ERROR, "layout", images_root, "no split folders (images/train/, images/val/, ...)")
    pairs = []
    for split in splits:
        images = _files(images_root / split, report, "images")
        masks = _files(masks_root / split, report, "masks")
        if not (images_root / split).is_dir():
            report.add(ERROR, "layout", masks_root / split, f"split {split!r} has masks but no images/{split}/ folder")
        elif not images:
            report.add(ERROR, "layout", images_root / split, f"no images in split {split!r}")
        for stem, image_path in images.items():
            mask_path = masks.get(stem)
            if mask_path is None:
                report.add(ERROR, "missing-mask", image_path, f"no mask for this image (expected {masks_root / split / (stem + '.png')})")
            elif mask_path.suffix.lower() != ".png":
                report.add(ERROR, "not-png", mask_path, "mask is not a .png (the loader reads <id>.png; JPEG masks are lossy)")
                mask_path = None
            pairs.append(_Pair(split, image_path, mask_path))
        for stem, mask_path in masks.items():
            if stem not in images:
                report.add(WARNING, "orphan-mask", mask_path, "mask without an image; skipped")
    return pairs


def _judge_mask(pair: _Pair, report: Report, classes: list[str] | None) -> None:
    """Findings about one mask (its image already judged)."""
    path = pair.mask_path
    if pair.mask_error is not None:
        report.add(ERROR, "unreadable", path, f"unreadable mask ({pair.mask_error})")
        return
    if pair.mask_format == "JPEG":
        report.add(ERROR, "jpeg-mask", path, "mask is JPEG-compressed: lossy compression puts values between classes at every edge; save masks as PNG")
    if pair.mask_mode not in ("L", "P", "1", "I;16", "I;16B", "I;16L", "I"):
        if pair.equal_channels:
            hint = " with equal channels (a grayscale mask saved with colour channels: save it single-channel)"
        elif pair.mask_mode in ("RGB", "RGBA"):
            hint = " (a colour mask: convert it with `pixelseg data convert --from color-masks`)"
        else:
            hint = ""
        report.add(ERROR, "rgb-mask", path, f"mask has mode {pair.mask_mode}{hint}; masks must be single-channel class ids")
        return
    if pair.histogram is None:
        report.add(ERROR, "unknown-ids", path, f"16-bit mask with values up to {pair.mask_max}: class ids must fit 0..254 (255 = ignore)")
        return
    if pair.image_size is not None and pair.mask_size != pair.image_size:
        (mh, mw), (ih, iw) = pair.mask_size, pair.image_size
        report.add(ERROR, "size-mismatch", path, f"mask is {mw}×{mh} (W×H) but its image is {iw}×{ih}")
    values = np.flatnonzero(pair.histogram)
    total = int(pair.histogram.sum())
    if classes is not None:
        stray = [int(v) for v in values if v >= len(classes) and v != IGNORE_INDEX]
        if stray:
            pixels = int(pair.histogram[stray].sum())
            lossy = len(stray) > 2 or pair.mask_format == "JPEG"
            hint = f"; {len(stray)} distinct stray values look like a JPEG-compressed or resized (interpolated) mask" if lossy else ""
            report.add(
                ERROR, "unknown-ids", path,
                f"values {stray[:8]}{'...' if len(stray) > 8 else ''} are not class ids ({len(classes)} classes, 0..{len(classes) - 1}, "
                f"255 = ignore) on {pixels} pixels ({100 * pixels / total:.2f}%){hint}",
            )
    if set(values.tolist()) == {0, IGNORE_INDEX}:
        share = 100 * pair.histogram[IGNORE_INDEX] / total
        report.add(WARNING, "binary-0-255", path, f"only values 0 and 255 ({share:.1f}% 255): looks like a binary mask saved as 0/255, "
                   "which makes the object 'ignore'; map 255 to 1 if it is the object")
    elif len(values) == 1:
        value = int(values[0])
        what = "ignore (255)" if value == IGNORE_INDEX else f"class {value}" + (f" ({classes[value]})" if classes and value < len(classes) else "")
        report.add(WARNING, "empty-mask", path, f"every pixel is {what}")


def check_folder(root: str | Path, workers: int | None = None) -> Report:
    """Inspect a folder-format data set; the report holds statistics per split and the findings."""
    started = time.perf_counter()
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    report = Report(root, None)
    try:
        report.classes = read_classes(root)
    except DataError as err:
        report.add(ERROR, "classes", None, str(err))
    pairs = _pairs(root, report)
    workers = workers or min(2, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        pairs = list(pool.map(_inspect, pairs))

    num_classes = len(report.classes) if report.classes else 255
    seen: dict[str, _Pair] = {}
    for pair in pairs:
        stats = report.splits.setdefault(pair.split, SplitStats(pair.split, ClassCounts(num_classes)))
        stats.images += 1
        if pair.image_error is not None:
            report.add(ERROR, "unreadable", pair.image_path, pair.image_error)
        else:
            stats.sizes[pair.image_size[::-1]] += 1
            first = seen.setdefault(pair.image_hash, pair)
            if first is not pair:
                if first.split != pair.split:
                    report.add(ERROR, "leak", pair.image_path, f"the same image is in split {first.split!r} as {first.image_path} (scores on {pair.split!r} would be inflated)")
                else:
                    report.add(WARNING, "duplicate", pair.image_path, f"the same image as {first.image_path.name} in this split")
        if pair.mask_path is not None:
            _judge_mask(pair, report, report.classes)
            if pair.histogram is not None and pair.mask_format != "JPEG":
                stats.counts.add_histogram(pair.histogram)

    for stats in report.splits.values():
        if stats.counts.masks and stats.counts.values[IGNORE_INDEX] == stats.counts.values.sum():
            # `train` refuses such a split too: a loss of 0 on it, or an mIoU of nan.
            report.add(ERROR, "all-ignore", report.root / "masks" / stats.name,
                       f"every pixel of all {stats.counts.masks} masks of split {stats.name!r} is 255 (ignore): nothing to train on or score")
        binary = [f for f in report.findings if f.kind == "binary-0-255" and f.path.parent.name == stats.name]
        if binary and stats.counts.masks and not stats.counts.pixels[1:].any():
            report.add(ERROR, "binary-0-255", report.root / "masks" / stats.name,
                       f"all {stats.counts.masks} masks of split {stats.name!r} hold only 0 and 255: no pixel of any class but 0; "
                       "binary masks saved as 0/255? (map 255 to 1)")
    report.seconds = time.perf_counter() - started
    return report


def _percent(part: float, whole: float) -> str:
    if not whole:
        return "-"
    share = 100 * part / whole
    return "<0.01%" if 0 < share < 0.005 else f"{share:.2f}%"  # present but tiny is not 0


def format_table(report: Report) -> str:
    """Counts, sizes and the per-class table (pixel share and images containing the class, per split)."""
    lines = [f"{report.root}: {len(report.classes) if report.classes else '?'} classes, "
             + ", ".join(f"{s.name} {s.images} images" for s in report.splits.values())]
    for stats in report.splits.values():
        common = ", ".join(f"{w}×{h}: {n}" for (w, h), n in stats.sizes.most_common(4))
        more = f", ... {len(stats.sizes) - 4} more sizes" if len(stats.sizes) > 4 else ""
        lines.append(f"  {stats.name} sizes (W×H): {common}{more}")
    if not report.splits:
        return "\n".join(lines)
    names = report.classes or [f"class {i}" for i in range(255)]
    weights_split = report.splits.get("train") or next(iter(report.splits.values()))
    weights = median_frequency_weights(weights_split.counts).tolist()
    width = max(12, *(len(n) for n in names[: len(weights)]))
    header = f"{'id':>3}  {'class':<{width}}" + "".join(f"  {s.name + ' pixels':>14}  {s.name + ' images':>14}" for s in report.splits.values())
    header += f"  {'weight':>7}"
    lines += ["", header, "-" * len(header)]
    for i, name in enumerate(names):
        if report.classes is None and not any(s.counts.values[i] for s in report.splits.values()):
            continue
        row = f"{i:>3}  {name:<{width}}"
        for s in report.splits.values():
            images = f"{s.counts.images[i]} ({100 * s.counts.images[i] / s.counts.masks:.0f}%)" if s.counts.masks else "-"
            row += f"  {_percent(s.counts.values[i], s.counts.values.sum()):>14}  {images:>14}"
        row += f"  {weights[i]:>7.3f}"
        lines.append(row)
    row = f"{255:>3}  {'(ignore)':<{width}}"
    for s in report.splits.values():
        row += f"  {_percent(s.counts.values[IGNORE_INDEX], s.counts.values.sum()):>14}  {'':>14}"
    lines.append(row)
    lines.append(f"(pixels: share of all mask pixels; images: masks containing the class; weight: median-frequency weight on {weights_split.name!r})")
    return "\n".join(lines)


def format_findings(report: Report) -> str:
    """Findings grouped by kind, errors first, at most SHOWN_PER_KIND of each kind."""
    lines = []
    for level in (ERROR, WARNING):
        kinds: dict[str, list[Finding]] = {}
        for finding in report.findings:
            if finding.level == level:
                kinds.setdefault(finding.kind, []).append(finding)
        for kind, findings in kinds.items():
            lines += [str(f) for f in findings[:SHOWN_PER_KIND]]
            if len(findings) > SHOWN_PER_KIND:
                lines.append(f"{level}: ... and {len(findings) - SHOWN_PER_KIND} more {kind} {level}s")
    lines.append(f"{len(report.errors)} errors, {len(report.warnings)} warnings ({report.seconds:.1f} s)")
    return "\n".join(lines)


def write_chart(report: Report, path: str | Path) -> Path:
    """Bar charts of the per-class pixel share (log scale) and image share, one bar per split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    names = report.classes or [str(i) for i in range(256)]
    count = len(names) if report.classes else 256
    fig, axes = plt.subplots(2, 1, figsize=(max(8.0, 0.22 * count + 2), 7), sharex=True, constrained_layout=True)
    positions = np.arange(count)
    width = 0.8 / max(len(report.splits), 1)
    for k, stats in enumerate(report.splits.values()):
        total, masks = max(stats.counts.values.sum(), 1), max(stats.counts.masks, 1)
        pixel_share = stats.counts.values[:count] / total
        image_share = (stats.counts.images / masks) if report.classes else (stats.counts.values[:count] > 0).astype(float)
        offset = (k - (len(report.splits) - 1) / 2) * width
        axes[0].bar(positions + offset, np.where(pixel_share > 0, pixel_share, np.nan), width, label=stats.name)
        axes[1].bar(positions + offset, image_share[:count], width, label=stats.name)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("share of pixels")
    axes[0].set_title(f"{report.root.name}: pixels per class (log scale)")
    axes[1].set_ylabel("share of images")
    axes[1].set_title("images containing the class")
    axes[1].set_xticks(positions, names[:count], rotation=90, fontsize=7 if count > 30 else 9)
    axes[0].legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
