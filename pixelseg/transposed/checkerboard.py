"""`pixelseg explain checkerboard`: checkerboard artifacts, shown and measured.

Three stacked x2 upsamplers (x8 in all), each either
- a stride-2 transposed convolution with a 3x3 kernel (p=1, a=1): overlaps are uneven (1 or 2 per axis);
- a stride-2 transposed convolution with a 4x4 kernel (p=1): overlaps are even (2 per axis), but each
  of the 4 output phases still sums its own subset of the weights;
- resize-convolution (Odena et al., 2016): nearest x2, then an ordinary 3x3 convolution (edge padding),
  where every output pixel sees the same weights.
Kernels are random positive numbers (seeded), like weights early in training, scaled so that each layer
keeps the mean brightness. Each runs on a constant input and on a real image.

The number: the share of the output's energy in the period-2 pattern,
    E2 = mean(P²) / mean(y²),  P = the 2x2 phase means of y, tiled, minus the overall mean,
measured away from the border (border effects are not checkerboard). For period 2 this is exactly
the energy of the three Nyquist frequencies of the 2-D DFT. A constant stays constant through
resize-convolution, so its E2 is 0 (up to rounding); a transposed convolution makes it a pattern.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pixelseg.errors import DataError
from pixelseg.transposed import _draw as draw
from pixelseg.transposed.explain import Explanation
from pixelseg.transposed.zero_insertion import conv_transpose2d_zero_insertion

LAYERS = 3
SEED = 0
CONSTANT_SIZE = 16  # constant input: 16x16 -> 128x128
IMAGE_SIZE = 48  # real image: 48x48 -> 384x384
MARGIN = 16  # output pixels left out at each border when measuring
METHODS = {
    "tconv3": "transposed conv k=3 s=2 (x3)",
    "tconv4": "transposed conv k=4 s=2 (x3)",
    "resize": "resize-conv: nearest x2 + conv 3x3 (x3)",
}


def checkerboard_energy(y: torch.Tensor | np.ndarray, period: int = 2, margin: int = MARGIN) -> float:
    """Share of y's energy in its period-`period` pattern (see the module docstring). y: (H, W)."""
    y = torch.as_tensor(y, dtype=torch.float64)
    if y.dim() != 2:
        raise ValueError(f"expected a 2-D map, got shape {tuple(y.shape)}")
    if margin:
        y = y[margin:-margin, margin:-margin]
    h, w = (y.shape[0] // period) * period, (y.shape[1] // period) * period
    if h == 0 or w == 0:
        raise ValueError(f"the map is too small to measure after cutting a {margin}-pixel margin")
    y = y[:h, :w]
    phases = y.reshape(h // period, period, w // period, period).mean(dim=(0, 2))  # (period, period)
    pattern = phases - phases.mean()
    total = y.square().mean()
    return float(pattern.square().mean() / total) if total > 0 else 0.0


def _kernels(generator: torch.Generator) -> dict:
    """Random positive kernels per method and layer, scaled to keep the mean brightness."""
    def positive(k: int, gain: float) -> torch.Tensor:
        w = 0.5 + torch.rand(k, k, generator=generator, dtype=torch.float64)
        return (w * gain / w.sum())[None, None]

    # a stride-2 transposed conv spreads each input over 4 output pixels on average: sum 4 keeps the mean
    return {
        "tconv3": [positive(3, 4.0) for _ in range(LAYERS)],
        "tconv4": [positive(4, 4.0) for _ in range(LAYERS)],
        "resize": [positive(3, 1.0) for _ in range(LAYERS)],
    }


def upsample(x: torch.Tensor, method: str, kernels: dict) -> torch.Tensor:
    """x: (H, W) -> (8H, 8W) through LAYERS x2 upsamplers of the given method."""
    y = x[None, None]
    for w in kernels[method]:
        if method == "tconv3":
            y = conv_transpose2d_zero_insertion(y, w, stride=2, padding=1, output_padding=1)
        elif method == "tconv4":
            y = conv_transpose2d_zero_insertion(y, w, stride=2, padding=1)
        else:
            y = F.interpolate(y, scale_factor=2, mode="nearest")
            y = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), w)
    return y[0, 0]


def synthetic_image(size: int = IMAGE_SIZE) -> np.ndarray:
    """A picture with smooth shading, edges and a texture, in [0, 1]: the fallback 'real image'."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 0.35 + 0.3 * xx  # a lit background
    img += 0.35 * (((xx - 0.35) ** 2 + (yy - 0.4) ** 2) < 0.06)  # a disc with a hard edge
    img -= 0.25 * ((np.abs(xx - 0.75) < 0.1) & (yy > 0.5))  # a dark bar
    img += 0.08 * np.sin(2 * np.pi * 5 * (xx + yy))  # a gentle texture
    return np.clip(img, 0, 1)


def load_image(path: str | Path | None, size: int = IMAGE_SIZE) -> tuple[np.ndarray, str]:
    """A grayscale (size, size) image in [0, 1] and where it came from.

    path: an image file (any format Pillow reads; centre-cropped to a square), or None for
    skimage's astronaut if scikit-image is installed, else a synthetic picture.
    """
    from PIL import Image, UnidentifiedImageError

    if path is not None:
        try:
            with Image.open(path) as im:
                image = im.convert("L")
        except FileNotFoundError:
            raise DataError(f"image not found: {path}") from None
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"cannot read {path} as an image: {err}") from None
        source = str(path)
    else:
        try:
            from skimage import data  # optional (dev extra)

            image = Image.fromarray(data.astronaut()).convert("L")
            source = "skimage.data.astronaut()"
        except Exception:  # not installed, or its data missing: any picture with edges will do
            return synthetic_image(size), "a synthetic picture (scikit-image not available)"
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.float64) / 255.0, source


def measure(image: np.ndarray) -> dict:
    """Upsample a constant and the image with each method; return outputs and E2 per (method, input)."""
    kernels = _kernels(torch.Generator().manual_seed(SEED))
    inputs = {"constant": torch.full((CONSTANT_SIZE, CONSTANT_SIZE), 0.5, dtype=torch.float64),
              "image": torch.as_tensor(image, dtype=torch.float64)}
    outputs, energy = {}, {}
    for method in METHODS:
        for name, x in inputs.items():
            y = upsample(x, method, kernels)
            outputs[method, name] = y.numpy()
            energy[method, name] = checkerboard_energy(y)
    return {"inputs": {k: v.numpy() for k, v in inputs.items()}, "outputs": outputs, "energy": energy}


def explain_checkerboard(image: str | Path | None = None, out_dir: str | Path = "runs/explain/checkerboard"
                         ) -> Explanation:
    """Print the E2 table and draw constant/image/zoom rows for the three methods."""
    picture, source = load_image(image)
    m = measure(picture)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    e = m["energy"]
    lines = [
        f"Checkerboard artifacts: {LAYERS} stacked x2 upsamplers (x{2 ** LAYERS}), random positive kernels "
        f"(seed {SEED}).",
        f"Inputs: a constant {CONSTANT_SIZE}x{CONSTANT_SIZE} map, and {source} as {IMAGE_SIZE}x{IMAGE_SIZE} grayscale.",
        f"E2 = share of the output's energy in the period-2 pattern (2x2 phase means; {MARGIN}-pixel border left out).",
        "",
        f"  {'':44s}{'constant':>12s}{'image':>12s}",
    ]
    for method, label in METHODS.items():
        lines.append(f"  {label:44s}{e[method, 'constant']:12.3g}{e[method, 'image']:12.3g}")
    lines += [
        "",
        "Why: a stride-2 transposed convolution builds each output pixel from a subset of the kernel that",
        "depends on the pixel's position mod 2 (k=3: 1 or 2 taps per axis, uneven; k=4: 2 and 2, but",
        "different weights). Unless those subsets sum to the same value, even a constant comes out as a",
        "period-2 pattern, and stacking layers adds periods 4 and 8. Resize-convolution gives every output",
        "pixel all the weights, so a constant stays constant: E2 ~ 0.",
    ]
    path = _picture(out_dir / "checkerboard.png", m, source)
    lines += ["", f"Picture: {path}"]
    numbers = {f"{method}/{name}": value for (method, name), value in e.items()}
    return Explanation("\n".join(lines), [path], None, numbers)


def _picture(path: Path, m: dict, source: str) -> Path:
    fig = draw.new_figure(13.0, 10.2)
    rows = [("constant", "constant input"), ("image", "image"), ("zoom", "image, zoomed 48x48")]
    cols = [("input", "input")] + list(METHODS.items())
    axes = [[fig.add_subplot(3, 4, r * 4 + c + 1) for c in range(4)] for r in range(3)]
    zoom = slice(160, 208)  # a 48x48 window of the 384x384 outputs
    for r, (row, row_label) in enumerate(rows):
        for c, (col, col_label) in enumerate(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            name = "constant" if row == "constant" else "image"
            if col == "input":
                shown = m["inputs"][name] if row != "zoom" else m["inputs"]["image"][20:26, 20:26]
                title = row_label if row != "zoom" else "input (the same 6x6 pixels)"
            else:
                y = m["outputs"][col, name]
                shown = y if row != "zoom" else y[zoom, zoom]
                title = f"{col_label}\nE2 = {m['energy'][col, name]:.3g}" if row != "zoom" else col_label
            # contrast from the interior: the darker zero-padded border would flatten the pattern
            inner = shown[MARGIN:-MARGIN, MARGIN:-MARGIN] if col != "input" and row != "zoom" else shown
            lo, hi = float(np.min(inner)), float(np.max(inner))
            if hi - lo < 1e-6:  # a flat map: show it mid-grey rather than amplifying rounding noise
                lo, hi = lo - 0.5, hi + 0.5
            ax.imshow(shown, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_title(title, fontsize=9)
    fig.suptitle(f"checkerboard artifacts: three x2 upsamplers stacked; E2 = energy share of the period-2 pattern\n"
                 f"(each panel contrast-stretched to its interior; image: {source})", fontsize=11)
    draw.layout(fig)
    return draw.save_png(fig, path, dpi=72)
