"""Small drawing and printing helpers for the explain pictures: number grids in the colours of
conv_arithmetic (blue input, white zeros, dark-blue kernel, teal output).

Figures are made with matplotlib's object API (no pyplot), so nothing global is touched and no
display is needed; PNGs are saved as palette images, which keeps them small.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from PIL import Image

INPUT = "#9ecae1"  # input values (light blue)
ZERO = "#ffffff"  # inserted zeros (white, dashed edge)
BORDER = "#eeeeee"  # border padding (light grey, dashed edge)
KERNEL = "#2171b5"  # the kernel and the window it covers (dark blue)
OUTPUT = "#7fcdbb"  # output values already computed (teal)
CURRENT = "#1d91c0"  # the output value being computed
EMPTY = "#ffffff"
EDGE = "#555555"

CELL_TEXT = "cell"  # gid of the numbers written in grid cells (sized by fit_cell_text)
CORNER_TEXT = "corner"  # gid of the small kernel-weight labels in the corner of a cell
MAX_NUMBERED = 24  # grids wider or taller than this get colours only: the numbers would be unreadable


def fmt(value: float, decimals: int = 2) -> str:
    """1.0 -> '1', 2.25 -> '2.25', -0.0 -> '0', 0.3333 -> '0.33'."""
    value = float(value)
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value))) if round(value) != 0 else "0"
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def compact(values: np.ndarray) -> str:
    """A 2-D array as the nested list the CLI takes: [[1,2,0],[4,7,2],[3,7,4]]."""
    return "[" + ",".join("[" + ",".join(fmt(v, 4) for v in row) + "]" for row in np.asarray(values)) + "]"


def grid_lines(values: np.ndarray, zero: str | None = None, decimals: int = 2) -> list[str]:
    """A 2-D array as right-aligned text rows; `zero` replaces exact zeros (e.g. '.' to show sparsity)."""
    cells = [[zero if (zero is not None and v == 0) else fmt(v, decimals) for v in row] for row in np.asarray(values)]
    width = max((len(c) for row in cells for c in row), default=1)
    return ["  ".join(c.rjust(width) for c in row) for row in cells]


def side_by_side(blocks: Sequence[tuple[str, list[str]]], gap: int = 4, indent: int = 2, max_width: int = 110) -> str:
    """Print captioned text blocks next to each other, wrapping onto new rows past max_width."""
    out: list[str] = []
    row: list[tuple[str, list[str]]] = []
    used = indent

    def flush():
        if not row:
            return
        widths = [max([len(caption)] + [len(line) for line in lines]) for caption, lines in row]
        height = max(len(lines) for _, lines in row)
        out.append(" " * indent + (" " * gap).join(c.ljust(w) for (c, _), w in zip(row, widths)).rstrip())
        for r in range(height):
            parts = [(lines[r] if r < len(lines) else "").ljust(w) for (_, lines), w in zip(row, widths)]
            out.append(" " * indent + (" " * gap).join(parts).rstrip())
        row.clear()

    for caption, lines in blocks:
        width = max([len(caption)] + [len(line) for line in lines])
        if row and used + gap + width > max_width:
            flush()
            used = indent
        row.append((caption, lines))
        used += gap + width
    flush()
    return "\n".join(out)


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def draw_grid(
    ax,
    values: np.ndarray,
    title: str = "",
    colors: np.ndarray | None = None,
    dashed: np.ndarray | None = None,
    text_colors: np.ndarray | None = None,
    blank: np.ndarray | None = None,
    numbers: bool | None = None,
    origin: tuple[float, float] | None = None,
) -> None:
    """Draw a 2-D array as a grid of unit cells with the values written in (row 0 at the top).

    colors: per-cell face colours (default: INPUT); dashed: cells drawn with a dashed edge (zeros
    that are not data); blank: cells whose number is not written (not computed yet); numbers: write
    the values at all (default: only in grids up to MAX_NUMBERED cells across).
    origin: (x, y) of the top-left corner to draw several grids into one axes, aligned cell for cell;
    then the caller sets the limits (see `frame_axes`). Without it the axes shows just this grid.
    """
    values = np.asarray(values, dtype=float)
    h, w = values.shape
    x0, y0 = origin or (0, 0)
    numbered = max(h, w) <= MAX_NUMBERED if numbers is None else numbers
    # One collection for all cells: a patch per cell costs ~1 ms each, too slow for 30x30 grids.
    rr, cc = np.mgrid[0:h, 0:w]
    corners = np.array([(0, 0), (1, 0), (1, 1), (0, 1)], dtype=float)
    verts = corners[None] + np.stack([x0 + cc.ravel(), y0 + rr.ravel()], axis=1)[:, None, :]
    faces = [INPUT] * (h * w) if colors is None else list(np.asarray(colors, dtype=object).ravel())
    styles = ["-"] * (h * w) if dashed is None else ["--" if d else "-" for d in np.asarray(dashed).ravel()]
    ax.add_collection(PolyCollection(verts, facecolors=faces, edgecolors=EDGE, linewidths=0.6, linestyles=styles),
                      autolim=False)
    if numbered:
        for r in range(h):
            for c in range(w):
                if not (blank is not None and blank[r, c]):
                    color = "black" if text_colors is None else text_colors[r, c]
                    ax.text(x0 + c + 0.5, y0 + r + 0.5, fmt(values[r, c]), ha="center", va="center", color=color,
                            gid=CELL_TEXT)
    if origin is None:
        frame_axes(ax, 0, w, 0, h)
    if title:
        ax.set_title(title, fontsize=10)


def frame_axes(ax, left: float, right: float, top: float, bottom: float) -> None:
    """Show exactly this region of cell coordinates, square cells, row 0 at the top, no axis lines."""
    ax.set_xlim(left - 0.05, right + 0.05)
    ax.set_ylim(bottom + 0.05, top - 0.05)  # y grows downwards, like matrix rows
    ax.set_aspect("equal")
    ax.set_axis_off()


def layout(fig: Figure) -> None:
    """tight_layout that leaves room for the figure's suptitle (which tight_layout ignores)."""
    title = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""  # matplotlib >= 3.8
    lines = title.count("\n") + 1 if title else 0
    fig.tight_layout(rect=(0, 0, 1, 1 - (0.22 * lines + 0.05) / fig.get_figheight()))


def fit_cell_text(fig: Figure) -> None:
    """Size the numbers in the cells to the cells as laid out (call after tight_layout).

    Grids of different sizes share a figure, so a font size fixed up front would be too small in
    some and overflow in others; this uses the cell size in points and the longest number per axes.
    """
    width_in = fig.get_figwidth()
    for ax in fig.axes:
        cells = [t for t in ax.texts if t.get_gid() == CELL_TEXT]
        labels = [t for t in ax.texts if t.get_gid() == CORNER_TEXT]
        if not cells and not labels:
            continue
        ax.apply_aspect()  # the box as drawn, after aspect="equal" shrank it
        units_across = ax.get_xlim()[1] - ax.get_xlim()[0]  # one cell is one unit
        cell_pt = ax.get_position().width * width_in * 72 / max(units_across, 1e-9)
        longest = max([len(t.get_text()) for t in cells] + [1])
        size = max(4.0, min(14.0, 0.42 * cell_pt, 1.3 * cell_pt / longest))
        for t in cells:
            t.set_fontsize(size)
        for t in labels:
            t.set_fontsize(max(4.0, min(10.0, 0.26 * cell_pt)))


def render(fig: Figure) -> Image.Image:
    """The figure as an RGB Pillow image."""
    fit_cell_text(fig)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return Image.fromarray(rgba[..., :3].copy())


def to_palette(image: Image.Image, colors: int = 256) -> Image.Image:
    # Flat colours and text: an adaptive palette loses nothing visible and shrinks files ~4x.
    return image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def save_png(fig: Figure, path: Path, dpi: int = 90) -> Path:
    """Save the figure as a palette PNG (small, lossless for flat-colour pictures)."""
    fig.set_dpi(dpi)
    to_palette(render(fig)).save(path, optimize=True)
    return Path(path)


def save_image(image: Image.Image, path: Path) -> Path:
    """Save a rendered frame as a palette PNG."""
    to_palette(image).save(path, optimize=True)
    return Path(path)


def save_gif(frames: Iterable[Image.Image], path: Path, ms_per_frame: int = 700, last_frame_ms: int = 2000) -> Path:
    """An animated, looping GIF; the last frame (the finished result) stays a little longer."""
    frames = list(frames)
    # One palette for all frames, so Pillow can store each frame as the small rectangle that changed.
    # It is made from a middle frame (moving colours) stacked on the last (all results).
    sample = [frames[len(frames) // 2], frames[-1]]
    strip = Image.new("RGB", (max(f.width for f in sample), sum(f.height for f in sample)))
    strip.paste(sample[0], (0, 0))
    strip.paste(sample[1], (0, sample[0].height))
    palette = to_palette(strip)
    frames = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    durations = [ms_per_frame] * (len(frames) - 1) + [last_frame_ms]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=True,
                   disposal=1)
    return Path(path)


def panel_row(n: int, width_each: float = 3.0, height: float = 3.4, per_row: int | None = None) -> tuple[Figure, list]:
    """A figure with n axes side by side, wrapped into rows of per_row (default: one row)."""
    per_row = per_row or n
    rows = -(-n // per_row)
    fig = new_figure(width_each * min(n, per_row), height * rows)
    axes = [fig.add_subplot(rows, min(n, per_row), i + 1) for i in range(n)]
    return fig, axes
