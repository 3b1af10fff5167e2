"""`pixelseg explain transposed-conv`: a transposed convolution of one small single-channel input,
step by step, as text and pictures (a PNG per step and an animated GIF of the sliding kernel).

    from pixelseg.transposed.explain import explain_transposed_conv
    e = explain_transposed_conv([[1, 2], [3, 4]], [[1, 0], [1, 1]], out_dir="runs/explain/transposed-conv")
    print(e.text)        # every step, then the result [[1,2,0],[4,7,2],[3,7,4]]
    e.files              # [.../01_input.png, ..., .../transposed_conv.gif]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox
from PIL import Image

from pixelseg.transposed import _draw as draw
from pixelseg.transposed.arithmetic import IntOrPair, conv_output_size, output_size, pair
from pixelseg.transposed.matrix import conv_matrix, conv_transpose2d_matrix
from pixelseg.transposed.scatter import conv_transpose2d_scatter, scatter_contributions
from pixelseg.transposed.zero_insertion import insert_zeros, pad_or_crop, zero_insertion_steps

MAX_INPUT = 16  # rows/cols: explain is for examples one can follow by eye (and must stay under 10 s)
MAX_KERNEL = 7
MAX_FRAMES = 100  # GIF frames; bigger outputs animate their first rows only
MAX_STAMPS = 7  # scatter panels drawn / printed
MAX_PRODUCT_LINES = 36
MAX_PRINTED = 20  # grids wider than this are not printed (they are drawn)
# kinds of cells in the padded input, for colours
BORDER, DATA, INSERTED = 0, 1, 2


@dataclass
class Explanation:
    """What an explain command produced: the text to print, the files written, and the numbers."""

    text: str
    files: list[Path] = field(default_factory=list)
    result: np.ndarray | None = None
    numbers: dict = field(default_factory=dict)


def as_matrix(values, name: str) -> torch.Tensor:
    """A 2-D, non-empty, rectangular array of finite numbers as float64; ValueError otherwise."""
    try:
        t = torch.as_tensor(values, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be a rectangular 2-D list of numbers like [[1,2],[3,4]] ({err})") from None
    if t.dim() != 2 or t.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 2-D list of numbers like [[1,2],[3,4]], got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must contain finite numbers only")
    return t


def explain_transposed_conv(
    x,
    kernel,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    out_dir: str | Path = "runs/explain/transposed-conv",
) -> Explanation:
    """Explain conv_transpose2d(x, kernel) for one 2-D input and one 2-D kernel (single channel).

    x: (H, W) and kernel: (kH, kW) as nested lists, arrays or tensors. Raises ValueError for invalid
    input or arguments (the reason in the message). Writes 01_input.png ... 07_result.png, 08_matrix.png
    (small cases) and transposed_conv.gif into out_dir.
    """
    xt, kt = as_matrix(x, "input"), as_matrix(kernel, "kernel")
    if max(xt.shape) > MAX_INPUT or max(kt.shape) > MAX_KERNEL:
        raise ValueError(f"explain is for small examples: input at most {MAX_INPUT}x{MAX_INPUT}, "
                         f"kernel at most {MAX_KERNEL}x{MAX_KERNEL}")
    s, p, a, d = (pair(v, n) for v, n in ((stride, "stride"), (padding, "padding"),
                                          (output_padding, "output_padding"), (dilation, "dilation")))
    (h, w), (kh, kw) = xt.shape, kt.shape
    out_hw = tuple(output_size(xt.shape[i], kt.shape[i], s[i], p[i], a[i], d[i]) for i in range(2))

    kwargs = dict(stride=s, padding=p, output_padding=a, dilation=d)
    steps = zero_insertion_steps(xt[None, None], kt[None, None], **kwargs)
    inserted = steps.inserted[0, 0].numpy()
    padded = steps.padded[0, 0].numpy()
    flipped = steps.flipped[0, 0].numpy()
    result = steps.output[0, 0].numpy()
    # Which padded cells hold data, inserted zeros or border zeros: run the same two steps on labels.
    inserted_kinds = torch.where(insert_zeros(torch.ones(1, 1, h, w), s) > 0, DATA, INSERTED)
    kinds = pad_or_crop(inserted_kinds, *steps.border)[0, 0].numpy()

    others = {
        "scatter": conv_transpose2d_scatter(xt[None, None], kt[None, None], **kwargs),
        "matrix": conv_transpose2d_matrix(xt[None, None], kt[None, None], **kwargs),
        "torch.nn.functional.conv_transpose2d": F.conv_transpose2d(xt[None, None], kt[None, None], **kwargs),
    }
    max_diff = max(float(np.abs(o[0, 0].numpy() - result).max()) for o in others.values())

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    xn, kn = xt.numpy(), kt.numpy()
    lines: list[str] = []
    say = lines.append

    # -- the problem ------------------------------------------------------------------------------
    say(f"Transposed convolution of a {h}x{w} input with a {kh}x{kw} kernel")
    say(f"  stride {s}  padding {p}  output_padding {a}  dilation {d}")
    say("  output size = (i-1)·s - 2·p + d·(k-1) + a + 1")
    for axis, name in ((0, "rows   "), (1, "columns")):
        i_, k_ = xt.shape[axis], kt.shape[axis]
        say(f"    {name} ({i_}-1)·{s[axis]} - 2·{p[axis]} + {d[axis]}·({k_}-1) + {a[axis]} + 1 = {out_hw[axis]}")
    say("")
    say(draw.side_by_side([("input", draw.grid_lines(xn)), ("kernel", draw.grid_lines(kn))]))
    say("")

    # -- the textbook picture: scatter ------------------------------------------------------------
    stamps = scatter_contributions(xt, kt, s, d).numpy()  # (h, w, full_h, full_w)
    canvas = stamps.sum(axis=(0, 1))
    say("The textbook picture: every input value stamps a scaled copy of the kernel, "
        f"{s[0]} row(s) / {s[1]} column(s) apart; overlaps add")
    blocks = []
    printed = MAX_STAMPS if canvas.shape[1] <= 5 else 3  # wide canvases: a few stamps make the point
    if max(canvas.shape) > MAX_PRINTED:
        printed = 0
    for n_, (i, j) in enumerate(np.ndindex(h, w)):
        if n_ == printed:
            if printed:
                blocks.append((f"... {h * w - printed} more", []))
            break
        blocks.append((f"{draw.fmt(xn[i, j])} × kernel", draw.grid_lines(stamps[i, j], zero=".")))
    blocks.append(("sum", _grid(canvas)))
    say(draw.side_by_side(blocks))
    crop = []
    if any(p):
        crop.append(f"padding crops {p[0]} row(s) from the top and bottom and {p[1]} column(s) from each side")
    if any(a):
        crop.append(f"output_padding adds {a[0]} row(s) at the bottom and {a[1]} column(s) on the right")
    if crop:
        say("  then " + "; ".join(crop) + ".")
    say("")

    # -- the same as an ordinary convolution ------------------------------------------------------
    say("The same result as an ordinary convolution in disguise:")
    say(f"Step 1. zero insertion: stride-1 = {s[0] - 1} zero row(s) between rows, {s[1] - 1} zero column(s) "
        f"between columns -> {inserted.shape[0]}x{inserted.shape[1]}")
    say(_indent(_grid(inserted)))
    t, b, l, r = steps.border
    say(f"Step 2. border padding: d·(k-1) - p zeros on each side, plus output_padding at the bottom/right: "
        f"top {t}, bottom {b}, left {l}, right {r}" + (" (negative = cropped)" if min(steps.border) < 0 else "")
        + f" -> {padded.shape[0]}x{padded.shape[1]}")
    say(_indent(_grid(padded)))
    say("Step 3. flip the kernel up-down and left-right")
    say(draw.side_by_side([("kernel", draw.grid_lines(kn)), ("flipped", draw.grid_lines(flipped))]))
    say(f"Step 4. slide the flipped kernel over it with stride 1{' and dilation ' + str(d) if d != (1, 1) else ''}; "
        "each output value is a sum of products (those with inserted or padded zeros left out):")
    products, zero_products = _products(padded, kinds, flipped, d, out_hw)
    for n_, ((i, j), terms) in enumerate(products.items()):
        if n_ == MAX_PRODUCT_LINES:
            say(f"  ... {len(products) - MAX_PRODUCT_LINES} more (see the GIF)")
            break
        expr = _sum_of_products(terms) or "0 (the window covers only zeros)"
        say(f"  out[{i},{j}] = {expr}" + (f" = {draw.fmt(result[i, j])}" if terms else ""))
    total = out_hw[0] * out_hw[1] * kh * kw
    say(f"  {zero_products} of the {total} products multiply an inserted or padded zero: "
        "wasted work that the scatter form skips.")
    say("")
    say(f"Result ({out_hw[0]}x{out_hw[1]}):")
    say(_indent(_grid(result)))
    say(f"  {draw.compact(result)}")
    verdict = "agree" if max_diff <= 1e-9 * max(1.0, float(np.abs(result).max())) else "DO NOT AGREE"
    say(f"Check: scatter, zero insertion, matrix and torch.nn.functional.conv_transpose2d {verdict} "
        f"(largest difference {max_diff:.3g}).")

    # -- as a matrix ------------------------------------------------------------------------------
    c = conv_matrix(kt, out_hw, s, p, d).to_dense().numpy()
    # C's rows are the ordinary conv's output pixels: h x w, or more when output_padding >= stride
    conv_hw = tuple(conv_output_size(out_hw[i], kt.shape[i], s[i], p[i], d[i]) for i in range(2))
    say("")
    say(f"As a matrix: C ({c.shape[0]}x{c.shape[1]}) is the ORDINARY convolution with this kernel "
        f"(stride {s}, padding {p}, dilation {d}) of a {out_hw[0]}x{out_hw[1]} image;")
    say("the transposed convolution is Cᵀ times the flattened input. Cᵀ restores the size, it does not undo C.")
    if c.shape[0] <= 36 and c.shape[1] <= 25:  # wider would not fit a terminal
        say(_indent(draw.grid_lines(c, zero=".")))
    x_flat = np.zeros(conv_hw)
    x_flat[:h, :w] = xn  # the extra rows, if any, are zeros the transposed input does not have
    x_flat = x_flat.reshape(-1)
    ct_x = c.T @ x_flat
    say(f"  Cᵀ · {draw.compact(x_flat[None])[1:-1]} = {draw.compact(ct_x[None])[1:-1]}  -> reshaped "
        f"{out_hw[0]}x{out_hw[1]}, the result above")

    # -- pictures ---------------------------------------------------------------------------------
    files = [
        _picture_input(out_dir / "01_input.png", xn, kn, s, p, a, d, out_hw),
        _picture_scatter(out_dir / "02_scatter.png", xn, stamps, canvas, s, d, kn.shape, p, out_hw),
        _picture_insertion(out_dir / "03_zero_insertion.png", xn, inserted, inserted_kinds[0, 0].numpy(), s),
        _picture_padding(out_dir / "04_padding.png", padded, kinds, steps.border),
        _picture_flip(out_dir / "05_flipped_kernel.png", kn, flipped),
    ]
    anim = _Sliding(padded, kinds, flipped, d, result, products)
    busiest = max(products, key=lambda ij: len(products[ij]))
    files.append(draw.save_image(anim.frame_at(busiest), out_dir / "06_sliding.png"))
    files.append(_picture_result(out_dir / "07_result.png", result, max_diff))
    if c.shape[0] * c.shape[1] <= 1600:
        files.append(_picture_matrix(out_dir / "08_matrix.png", c, x_flat, ct_x))
    files.append(anim.save_gif(out_dir / "transposed_conv.gif"))
    say("")
    say(f"Pictures in {out_dir}: " + ", ".join(f.name for f in files))
    return Explanation("\n".join(lines), files, result, {"max_difference": max_diff})


def _sum_of_products(terms) -> str:
    """[(1, 1), (4, -1)] -> '1·1 + 4·(-1)'."""
    paren = lambda v: f"({draw.fmt(v)})" if draw.fmt(v).startswith("-") else draw.fmt(v)  # noqa: E731
    return " + ".join(f"{paren(v)}·{paren(k)}" for v, k in terms)


def _grid(values: np.ndarray, zero: str | None = None) -> list[str]:
    """The grid as text rows, or a one-line note when it is too wide for a terminal."""
    if max(values.shape) > MAX_PRINTED:
        return [f"({values.shape[0]}x{values.shape[1]}: too big to print, see the pictures)"]
    return draw.grid_lines(values, zero=zero)


def _indent(lines: list[str]) -> str:
    return "\n".join("  " + line for line in lines)


def _products(padded, kinds, flipped, dilation, out_hw):
    """For each output pixel, the (input value, weight) pairs its window multiplies, zeros left out."""
    kh, kw = flipped.shape
    dh, dw = dilation
    products, zeros = {}, 0
    for i in range(out_hw[0]):
        for j in range(out_hw[1]):
            terms = []
            for u in range(kh):
                for v in range(kw):
                    if kinds[i + dh * u, j + dw * v] == DATA:
                        terms.append((padded[i + dh * u, j + dw * v], flipped[u, v]))
                    else:
                        zeros += 1
            products[(i, j)] = terms
    return products, zeros


# -- pictures -------------------------------------------------------------------------------------

def _kind_colors(kinds: np.ndarray):
    colors = np.where(kinds == DATA, draw.INPUT, np.where(kinds == INSERTED, draw.ZERO, draw.BORDER))
    return colors, kinds != DATA


def _kernel_style(k: np.ndarray):
    return np.full(k.shape, draw.KERNEL, dtype=object), np.full(k.shape, "white", dtype=object)


def _picture_input(path, xn, kn, s, p, a, d, out_hw):
    fig, (ax_x, ax_k) = draw.panel_row(2, width_each=3.0, height=3.6)
    draw.draw_grid(ax_x, xn, f"input {xn.shape[0]}x{xn.shape[1]}")
    colors, text = _kernel_style(kn)
    draw.draw_grid(ax_k, kn, f"kernel {kn.shape[0]}x{kn.shape[1]}", colors=colors, text_colors=text)
    fig.suptitle(f"stride {s}, padding {p}, output_padding {a}, dilation {d}\n"
                 f"output {out_hw[0]}x{out_hw[1]} = (i-1)s - 2p + d(k-1) + a + 1", fontsize=10)
    draw.layout(fig)
    return draw.save_png(fig, path)


def _picture_scatter(path, xn, stamps, canvas, s, d, kernel_shape, p, out_hw):
    h, w = xn.shape
    kh, kw = kernel_shape
    shown = [(i, j) for i, j in np.ndindex(h, w)][:MAX_STAMPS]
    n = len(shown) + 1
    fig, axes = draw.panel_row(n, width_each=2.6, height=2.9, per_row=4)
    for ax, (i, j) in zip(axes, shown):
        stamp = stamps[i, j]
        # where the (dilated) kernel landed, even where the product happens to be zero
        touched = np.zeros(stamp.shape, dtype=bool)
        touched[i * s[0]: i * s[0] + d[0] * (kh - 1) + 1: d[0], j * s[1]: j * s[1] + d[1] * (kw - 1) + 1: d[1]] = True
        colors = np.where(touched, draw.OUTPUT, draw.EMPTY).astype(object)
        draw.draw_grid(ax, stamp, f"{'+ ' if (i, j) != (0, 0) else ''}{draw.fmt(xn[i, j])} × kernel",
                       colors=colors, blank=~touched)
    more = "" if len(shown) == h * w else f" (+{h * w - len(shown)} more)"
    draw.draw_grid(axes[-1], canvas, f"= sum{more}", colors=np.full(canvas.shape, draw.OUTPUT, dtype=object))
    # the output is the part of the sum padding does not crop (output_padding rows lie below it)
    axes[-1].add_patch(Rectangle((p[1], p[0]), out_hw[1], out_hw[0], fill=False, edgecolor="#d62728",
                                 linewidth=2.0, linestyle="--"))
    fig.suptitle("every input value stamps a scaled kernel; overlaps add"
                 + ("; the output is inside the red frame" if any(p) or canvas.shape != out_hw else ""), fontsize=10)
    draw.layout(fig)
    return draw.save_png(fig, path)


def _picture_insertion(path, xn, inserted, kinds, s):
    colors, dashed = _kind_colors(kinds)
    fig, (ax_x, ax_i) = draw.panel_row(2, width_each=3.2, height=3.6)
    draw.draw_grid(ax_x, xn, "input")
    draw.draw_grid(ax_i, inserted, f"{inserted.shape[0]}x{inserted.shape[1]}", colors=colors, dashed=dashed)
    fig.suptitle(f"step 1: insert stride-1 zeros ({s[0] - 1} between rows, {s[1] - 1} between columns)",
                 fontsize=10)
    draw.layout(fig)
    return draw.save_png(fig, path)


def _picture_padding(path, padded, kinds, border):
    colors, dashed = _kind_colors(kinds)
    fig, (ax,) = draw.panel_row(1, width_each=4.4, height=4.6)
    t, b, l, r = border
    draw.draw_grid(ax, padded, f"{padded.shape[0]}x{padded.shape[1]}: top {t}, bottom {b}, left {l}, right {r}",
                   colors=colors, dashed=dashed)
    fig.suptitle("step 2: pad the border with d(k-1)-p zeros\n(+ output_padding at the bottom/right; "
                 "negative = crop)", fontsize=10)
    draw.layout(fig)
    return draw.save_png(fig, path)


def _picture_flip(path, kn, flipped):
    fig, (ax_k, ax_f) = draw.panel_row(2, width_each=2.8, height=3.2)
    colors, text = _kernel_style(kn)
    draw.draw_grid(ax_k, kn, "kernel", colors=colors, text_colors=text)
    draw.draw_grid(ax_f, flipped, "flipped", colors=colors, text_colors=text)
    fig.suptitle("step 3: flip the kernel up-down and left-right", fontsize=10)
    draw.layout(fig)
    return draw.save_png(fig, path)


def _picture_result(path, result, max_diff):
    fig, (ax,) = draw.panel_row(1, width_each=4.2, height=4.4)
    draw.draw_grid(ax, result, f"{result.shape[0]}x{result.shape[1]}",
                   colors=np.full(result.shape, draw.OUTPUT, dtype=object))
    text = draw.compact(result)
    text = text if len(text) <= 40 else f"({result.shape[0]}x{result.shape[1]})"
    fig.suptitle(f"result {text}\nscatter = zero insertion = matrix = PyTorch (max diff {max_diff:.2g})",
                 fontsize=10)
    draw.layout(fig)
    return draw.save_png(fig, path)


def _picture_matrix(path, c, x_flat, ct_x):
    # Laid out as xᵀC = (Cᵀx)ᵀ: x_i beside row i of C, the result under the columns it sums.
    # Row i of C is the kernel where input value i lands, so the picture is the scatter once more.
    rows, cols = c.shape
    cell = min(0.36, 12.0 / (cols + 2))
    fig = draw.new_figure(max(6.0, cell * (cols + 2) + 0.6), cell * (rows + 2) + 1.4)
    ax = fig.add_subplot(1, 1, 1)
    draw.draw_grid(ax, x_flat[:, None], origin=(-1.6, 0), numbers=True)
    draw.draw_grid(ax, c, colors=np.where(c != 0, draw.KERNEL, draw.EMPTY).astype(object),
                   text_colors=np.full(c.shape, "white", dtype=object), blank=c == 0, numbers=True, origin=(0, 0))
    draw.draw_grid(ax, ct_x[None, :], colors=np.full((1, cols), draw.OUTPUT, dtype=object), numbers=True,
                   origin=(0, rows + 0.6))
    ax.text(-1.1, -0.3, "x", ha="center", va="bottom", fontsize=10)
    ax.text(cols / 2, -0.3, f"C ({rows}x{cols}): the ordinary convolution (zeros left blank)", ha="center",
            va="bottom", fontsize=10)
    ax.text(cols / 2, rows + 1.8, "Cᵀx: each x_i scales row i of C and the columns add up: the result, flattened",
            ha="center", va="top", fontsize=10)
    draw.frame_axes(ax, -1.6, cols, -1.0, rows + 2.6)
    draw.layout(fig)
    return draw.save_png(fig, path)


class _Sliding:
    """The GIF: the flipped kernel slides over the padded input (left) and fills the output (right).

    The static grid is drawn once and kept as a bitmap; each frame restores it and draws only the
    moving artists (blitting), which keeps 100 frames within a couple of seconds.
    """

    def __init__(self, padded, kinds, flipped, dilation, result, products):
        self.padded, self.kinds, self.flipped, self.dilation = padded, kinds, flipped, dilation
        self.result, self.products = result, products
        ph, pw = padded.shape
        oh, ow = result.shape
        scale = 0.42
        self.fig = draw.new_figure(min(12.0, max(6.0, scale * (pw + ow) + 1.5)),
                                   min(7.5, max(3.6, scale * max(ph, oh) + 1.4)))
        self.fig.set_dpi(80)  # GIF frames: small files
        grid = self.fig.add_gridspec(1, 2, width_ratios=[pw, ow])
        self.ax_in = self.fig.add_subplot(grid[0, 0])
        self.ax_out = self.fig.add_subplot(grid[0, 1])
        colors, dashed = _kind_colors(kinds)
        draw.draw_grid(self.ax_in, padded, "padded input · flipped kernel", colors=colors, dashed=dashed)
        draw.draw_grid(self.ax_out, result, "output", colors=np.full(result.shape, draw.EMPTY, dtype=object),
                       blank=np.ones(result.shape, dtype=bool))  # the empty grid; values appear per frame
        numbered = max(oh, ow) <= draw.MAX_NUMBERED
        self.out_cells, self.out_texts = {}, {}
        for i in range(oh):
            for j in range(ow):
                # add_artist, not add_patch: the limits are fixed, and add_patch's bookkeeping is slow
                self.out_cells[i, j] = self.ax_out.add_artist(
                    Rectangle((j, i), 1, 1, facecolor=draw.OUTPUT, edgecolor=draw.EDGE, linewidth=0.6))
                if numbered:
                    self.out_texts[i, j] = self.ax_out.text(j + 0.5, i + 0.5, draw.fmt(result[i, j]), ha="center",
                                                            va="center", gid=draw.CELL_TEXT)
        kh, kw = flipped.shape
        self.taps = []
        for u in range(kh):
            for v in range(kw):
                patch = self.ax_in.add_patch(Rectangle((0, 0), 1, 1, facecolor=draw.KERNEL, alpha=0.55,
                                                       edgecolor=draw.KERNEL, linewidth=1.6))
                label = self.ax_in.text(0, 0, f"×{draw.fmt(flipped[u, v])}", ha="right", va="bottom",
                                        color="white", fontweight="bold", gid=draw.CORNER_TEXT,
                                        visible=max(padded.shape) <= draw.MAX_NUMBERED)
                self.taps.append((u, v, patch, label))
        self.title = self.fig.suptitle("", fontsize=11)
        self.fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / self.fig.get_figheight()))

        self.moving = [*self.out_cells.values(), *self.out_texts.values(),
                       *(a for _, _, patch, label in self.taps for a in (patch, label)), self.title]
        for artist in self.moving:
            artist.set_animated(True)  # left out of canvas.draw(): the background is the static part
        draw.fit_cell_text(self.fig)
        self.fig.canvas.draw()
        canvas = self.fig.canvas
        self.background = canvas.copy_from_bbox(self.fig.bbox)
        # The parts that change between frames besides output cells: the input panel (the window moves;
        # a few pixels extra for the window's edge line) and the strip above the panels (the title).
        box = self.ax_in.bbox
        self.input_region = canvas.copy_from_bbox(Bbox.from_extents(box.x0 - 4, box.y0 - 4, box.x1 + 4, box.y1 + 4))
        top = max(self.ax_in.bbox.y1, self.ax_out.bbox.y1) + 4
        self.title_region = canvas.copy_from_bbox(Bbox.from_extents(0, top, self.fig.bbox.x1, self.fig.bbox.y1))

    def _draw_cell(self, ij, current: bool) -> None:
        self.out_cells[ij].set_facecolor(draw.CURRENT if current else draw.OUTPUT)
        self.fig.draw_artist(self.out_cells[ij])
        if ij in self.out_texts:
            self.out_texts[ij].set_color("white" if current else "black")
            self.fig.draw_artist(self.out_texts[ij])

    def _draw_window_and_title(self, position) -> None:
        """Restore the input panel and title strip, then draw the window at `position` (None: none)."""
        canvas = self.fig.canvas
        canvas.restore_region(self.input_region)
        canvas.restore_region(self.title_region)
        if position is not None:
            dh, dw = self.dilation
            for u, v, patch, label in self.taps:
                y, x = position[0] + dh * u, position[1] + dw * v
                patch.set_xy((x, y))
                label.set_position((x + 0.97, y + 0.97))
                self.fig.draw_artist(patch)
                if label.get_visible():
                    self.fig.draw_artist(label)
            expr = _sum_of_products(self.products[position]) or "0"
            if len(expr) > 70:
                expr = expr[:67] + "..."
            value = draw.fmt(self.result[position])
            self.title.set_text(f"out[{position[0]},{position[1]}] = {expr}"
                                + (f" = {value}" if self.products[position] else ""))
        else:
            text = draw.compact(self.result)
            self.title.set_text(f"result {text}" if len(text) <= 70 else f"result ({self.result.shape[0]}x"
                                f"{self.result.shape[1]}): every output value computed")
        self.fig.draw_artist(self.title)

    def _grab(self) -> Image.Image:
        return Image.fromarray(np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy())

    def frame_at(self, position) -> Image.Image:
        """The frame for `position`, everything before it (row-major) already computed."""
        self.fig.canvas.restore_region(self.background)
        for ij in self.products:
            if ij < position:
                self._draw_cell(ij, current=False)
        self._draw_cell(position, current=True)
        self._draw_window_and_title(position)
        return self._grab()

    def save_gif(self, path: Path) -> Path:
        # Frames are drawn incrementally: output cells stay on the canvas from frame to frame, so each
        # frame only redraws the window, the title and two output cells.
        self.fig.canvas.restore_region(self.background)
        positions = list(self.products)[:MAX_FRAMES]
        frames, previous = [], None
        for position in positions:
            if previous is not None:
                self._draw_cell(previous, current=False)
            self._draw_cell(position, current=True)
            self._draw_window_and_title(position)
            frames.append(self._grab())
            previous = position
        for ij in list(self.products)[len(positions) - 1:]:  # the last animated one, and any not animated
            self._draw_cell(ij, current=False)
        self._draw_window_and_title(None)
        frames.append(self._grab())
        return draw.save_gif(frames, path)
