"""`pixelseg explain upsampling`: one 4x4 feature map made 8x8 four ways, side by side with the values.

- nearest: every value copied into a 2x2 block;
- bilinear: values interpolated between neighbours (align_corners=False, as in most decoders);
- transposed convolution: a learned layer; shown with a kernel of ones (k=3, s=2, p=1, a=1), which
  makes the uneven overlap visible (1, 2 or 4 values add up: the seed of checkerboard artifacts),
  and with the bilinear kernel (k=4, s=2, p=1), which reproduces bilinear inside the border;
- max-unpooling: each value goes back where the max-pool found it (its indices), zeros elsewhere.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pixelseg.nn.upsample import bilinear_kernel
from pixelseg.transposed import _draw as draw
from pixelseg.transposed.arithmetic import transposed_params_for
from pixelseg.transposed.explain import Explanation
from pixelseg.transposed.zero_insertion import conv_transpose2d_zero_insertion

# The 8x8 map the max-pool sees; the 4x4 feature map is its 2x2 max-pool. Small integers, so
# every output value can be followed by hand.
BEFORE_POOLING = torch.tensor(
    [
        [1, 3, 0, 2, 1, 0, 4, 1],
        [5, 2, 1, 1, 0, 2, 2, 3],
        [0, 1, 2, 6, 3, 1, 0, 0],
        [2, 0, 1, 0, 0, 5, 1, 2],
        [4, 1, 0, 0, 2, 2, 7, 1],
        [0, 2, 3, 1, 1, 0, 0, 3],
        [1, 0, 2, 0, 0, 1, 2, 0],
        [0, 8, 1, 4, 3, 0, 1, 1],
    ],
    dtype=torch.float64,
)


def upsampling_results() -> dict:
    """Every map of the picture, as float64 numpy arrays, keyed by panel name."""
    x = BEFORE_POOLING[None, None]
    pooled, indices = F.max_pool2d(x, 2, return_indices=True)
    (s3, p3, a3), = transposed_params_for(4, 8, 3, stride=2)  # the one choice: (2, 1, 1)
    (s4, p4, a4), = transposed_params_for(4, 8, 4, stride=2)  # (2, 1, 0)
    ones = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    return {
        "before": BEFORE_POOLING.numpy(),
        "pooled": pooled[0, 0].numpy(),
        "indices": indices[0, 0].numpy(),
        "nearest": F.interpolate(pooled, scale_factor=2, mode="nearest")[0, 0].numpy(),
        "bilinear": F.interpolate(pooled, scale_factor=2, mode="bilinear", align_corners=False)[0, 0].numpy(),
        "transposed_ones": conv_transpose2d_zero_insertion(pooled, ones, stride=s3, padding=p3,
                                                           output_padding=a3)[0, 0].numpy(),
        "transposed_bilinear": conv_transpose2d_zero_insertion(pooled, bilinear_kernel(4, torch.float64)[None, None], stride=s4,
                                                               padding=p4, output_padding=a4)[0, 0].numpy(),
        "unpooled": F.max_unpool2d(pooled, indices, 2)[0, 0].numpy(),
        "params": {"k3": (s3, p3, a3), "k4": (s4, p4, a4)},
    }


PANELS = [
    ("nearest", "nearest (F.interpolate)"),
    ("bilinear", "bilinear (align_corners=False)"),
    ("transposed_ones", "transposed conv k=3 s=2 p=1 a=1, ones:\n1, 2 or 4 values add up (shade)"),
    ("transposed_bilinear", "transposed conv, k=4 s=2 p=1,\nbilinear kernel = bilinear inside"),
    ("unpooled", "max-unpooling with the pool's\nindices (zeros elsewhere)"),
]


def explain_upsampling(out_dir: str | Path = "runs/explain/upsampling") -> Explanation:
    """Print and draw the four ways; returns the text, the picture path and the maps."""
    r = upsampling_results()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "Upsampling a 4x4 feature map x2 (to 8x8), four ways.",
        "The feature map is the 2x2 max-pool of an 8x8 map; the pool also returns where each max was (indices,",
        "flat positions in the 8x8 map), which max-unpooling needs.",
        "",
        draw.side_by_side([("8x8 before pooling", draw.grid_lines(r["before"])),
                           ("feature map (max-pool 2x2)", draw.grid_lines(r["pooled"])),
                           ("indices of the maxima", draw.grid_lines(r["indices"]))]),
        "",
        f"transposed_params_for(4, 8, kernel_size=3, stride=2) -> (stride, padding, output_padding) = "
        f"{r['params']['k3']}",
        f"transposed_params_for(4, 8, kernel_size=4, stride=2) -> {r['params']['k4']}",
        "",
    ]
    captions = {"nearest": "nearest", "bilinear": "bilinear",
                "transposed_ones": "transposed conv k=3 s=2 p=1 a=1, ones",
                "transposed_bilinear": "transposed conv k=4 s=2 p=1, bilinear kernel", "unpooled": "max-unpooling"}
    for keys in (("nearest", "bilinear"), ("transposed_ones", "transposed_bilinear"), ("unpooled",)):
        lines += [draw.side_by_side([(captions[k], draw.grid_lines(r[k])) for k in keys]), ""]
    inner = np.abs(r["transposed_bilinear"][1:-1, 1:-1] - r["bilinear"][1:-1, 1:-1]).max()
    lines += [
        "What to see:",
        "- nearest and bilinear have no weights; a transposed convolution learns its kernel.",
        "- with a kernel of ones, k=3 stride 2 adds 1, 2 or 4 input values per output pixel in a regular",
        "  pattern: uneven overlap, the root of checkerboard artifacts (pixelseg explain checkerboard).",
        f"- k=4 stride 2 with the bilinear kernel equals bilinear away from the border (largest difference {inner:.3g}):",
        "  a transposed convolution can learn (and is often initialised to) interpolation.",
        "- max-unpooling puts each value back where the maximum was and leaves zeros: sparse, but exact in place.",
    ]
    path = _picture(out_dir / "upsampling.png", r)
    lines += ["", f"Picture: {path}"]
    return Explanation("\n".join(lines), [path], None, {k: v for k, v in r.items() if k != "params"})


def _picture(path: Path, r: dict) -> Path:
    fig = draw.new_figure(15.0, 9.4)
    axes = [fig.add_subplot(2, 4, i + 1) for i in range(8)]
    # the max positions in the 8x8 map, highlighted: they are what max-unpooling restores
    is_max = np.zeros((8, 8), dtype=bool)
    for flat in r["indices"].reshape(-1).astype(int):
        is_max[flat // 8, flat % 8] = True
    colors = np.where(is_max, draw.KERNEL, draw.INPUT).astype(object)
    draw.draw_grid(axes[0], r["before"], "8x8 before pooling\n(dark: the maxima)", colors=colors,
                   text_colors=np.where(is_max, "white", "black").astype(object))
    draw.draw_grid(axes[1], r["pooled"], "feature map 4x4\n(max-pool 2x2)")
    draw.draw_grid(axes[2], r["indices"], "indices of the maxima\n(flat positions in 8x8)",
                   colors=np.full((4, 4), draw.BORDER, dtype=object))
    # 2x2 pooling windows outlined: each holds one maximum
    for k in range(1, 4):
        axes[0].axhline(2 * k, color="black", linewidth=2)
        axes[0].axvline(2 * k, color="black", linewidth=2)
    out_colors = {key: np.full((8, 8), draw.OUTPUT, dtype=object) for key, _ in PANELS}
    out_colors["unpooled"] = np.where(r["unpooled"] != 0, draw.OUTPUT, draw.EMPTY).astype(object)
    # shade the ones-kernel result by how many input values reach each pixel: the uneven overlap
    overlap = F.conv_transpose2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3), stride=2, padding=1,
                                 output_padding=1)[0, 0].numpy()
    shades = {1: "#c7e9c0", 2: "#74c476", 4: "#31a354"}
    out_colors["transposed_ones"] = np.vectorize(lambda n: shades.get(int(n), draw.OUTPUT), otypes=[object])(overlap)
    for ax, (key, title) in zip(axes[3:], PANELS):
        draw.draw_grid(ax, r[key], title, colors=out_colors[key])
    fig.suptitle("a 4x4 feature map enlarged x2: transposed convolution, nearest, bilinear, max-unpooling",
                 fontsize=12)
    draw.layout(fig)
    return draw.save_png(fig, path, dpi=80)
