"""Regenerate every figure the documentation shows, from pixelseg's own commands.

    python docs/figures/make_figures.py              # `make figures`: the tutorial's figures (about 10 minutes on 2 cores)
    python docs/figures/make_figures.py --external   # also the pictures other commands make (benchmarks, the page)

How: the tutorial chapters' shell and Python blocks are run, as written and at their full settings,
in a scratch copy of the reader's working folder (`runs/tutorial`, beside `docs/tutorial/assets`).
Their commands (`pixelseg data convert`, `train`, `evaluate`, `predict`, `explain`, `apply` ...)
write the pictures and the data the figures are drawn from; `draw()` then copies or composes them
into docs/. The figures are therefore what a reader running the tutorial gets.

FIGURES lists every picture this script writes (paths relative to docs/); EXTERNAL lists the
pictures made by other commands, which `--external` runs. The docs test (tests/docs) checks that
the pictures the pages show are exactly these, and runs `draw()` on its own quick run of the
tutorial.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "tutorial"
MAX_BYTES = 150 * 1024

# Every picture this script writes, relative to docs/.
FIGURES = [
    "tutorial/images/chelsea-annotation.png",
    "tutorial/images/chelsea-softmax.png",
    "tutorial/images/explain-scatter.png",
    "tutorial/images/explain-sliding.png",
    "tutorial/images/transposed-conv.gif",
    "tutorial/images/explain-scatter-stride2.png",
    "tutorial/images/explain-matrix.png",
    "tutorial/images/upsampling.png",
    "tutorial/images/checkerboard.png",
    "tutorial/images/losses-imbalance.png",
    "tutorial/images/check-shapes.png",
    "tutorial/images/shapes-curves.png",
    "tutorial/images/shapes-confusion.png",
    "tutorial/images/shapes-predictions.png",
    "tutorial/images/astronaut-effects.png",
    "tutorial/images/astronaut-video.png",
]

# Pictures on other pages, made by other commands (long, or needing data or a browser); `--external`
# runs them from the repository's root. None: no command known to this script yet.
EXTERNAL: dict[str, list[str] | None] = {
    "images/serve.png": ["env", "PIXELSEG_DOCS_SCREENSHOT=docs/images/serve.png", sys.executable, "-m", "pytest",
                         "tests/serve/test_browser.py", "-p", "no:xdist", "-q"],
    "images/annotate.png": ["env", "PIXELSEG_DOCS_SCREENSHOT=docs/images/annotate.png", sys.executable, "-m", "pytest",
                            "tests/annotate/test_browser.py", "-p", "no:xdist", "-q", "-k", "cat"],
    "camvid_from_scratch.png": [sys.executable, "bench/camvid.py", "--figure", "docs/camvid_from_scratch.png"],
    "images/apply_effects.jpg": [sys.executable, "docs/figures/apply_effects.py"],
    # two trainings of a few minutes each: the numbers of chapter 4's exercise come from the same run
    "tutorial/images/discs-probabilities.png": [sys.executable, "bench/binary.py", "--figure", "docs/tutorial/images/discs-probabilities.png"],
}

# The chapters whose blocks make what draw() needs.
CHAPTERS = ["01", "02", "03", "04", "05"]

# --------------------------------------------------------------------------------------------
# Running the tutorial's blocks

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
                   re.M | re.S)
SHELL, PYTHON = ("bash", "shell", "sh"), ("python", "py")


class BlockError(Exception):
    """A tutorial block failed; the message names the file, the line and what happened."""


def code_blocks(path: Path) -> list[tuple[str, int, str]]:
    """(language, line number of the opening fence, code) of every fenced block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        language = (match["info"].split() or [""])[0].lstrip(".").lower()
        blocks.append((language, text.count("\n", 0, match.start()) + 1, textwrap.dedent(match["body"])))
    return blocks


def chapter_path(number: str) -> Path:
    return next(TUTORIAL.glob(f"{number}-*.md"))


def prepare_workspace(root: Path) -> Path:
    """The reader's layout under root: docs/tutorial/assets, configs, and the working folder runs/tutorial."""
    shutil.copytree(TUTORIAL / "assets", root / "docs" / "tutorial" / "assets", dirs_exist_ok=True)
    if (ROOT / "configs").is_dir():
        shutil.copytree(ROOT / "configs", root / "configs", dirs_exist_ok=True)
    work = root / "runs" / "tutorial"
    work.mkdir(parents=True, exist_ok=True)
    return work


def tutorial_env(quick: bool, port: int | None = None) -> dict[str, str]:
    """The environment of the blocks: this interpreter's bin first on PATH; quick: tiny settings."""
    env = dict(os.environ)
    for name in ("PIXELSEG_DOCS_QUICK", "EPOCHS"):
        env.pop(name, None)
    if quick:
        env.update(PIXELSEG_DOCS_QUICK="1", EPOCHS="1")
    if port is not None:
        env["PORT"] = str(port)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    return env


def run_chapter(chapter: Path, work: Path, env: dict[str, str], log=print) -> dict:
    """Run the chapter's shell and Python blocks in order in `work`; return the Python namespace.

    Shell blocks: `bash -euo pipefail` with `env`. Python blocks: in this process, in one namespace,
    with the working directory and the environment set as for the shell. Raises BlockError.
    """
    namespace = {"__name__": f"docs_{chapter.stem.replace('-', '_')}"}
    saved_cwd, saved_env, saved_argv = os.getcwd(), dict(os.environ), sys.argv
    os.chdir(work)
    os.environ.clear()
    os.environ.update(env)
    try:
        for language, line, code in code_blocks(chapter):
            where = f"{chapter.relative_to(ROOT)}:{line}"
            started = time.perf_counter()
            if language in SHELL:
                result = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=work, env=env, capture_output=True,
                                        text=True, timeout=3600)
                if result.returncode != 0:
                    raise BlockError(f"{where}: shell block exited {result.returncode}\n--- block\n{code}--- stdout (end)\n"
                                     f"{result.stdout[-3000:]}\n--- stderr (end)\n{result.stderr[-3000:]}")
            elif language in PYTHON:
                sys.argv = [where]
                try:
                    exec(compile(code, where, "exec"), namespace)
                except Exception as err:
                    lines = [frame.lineno for frame in traceback.extract_tb(err.__traceback__) if frame.filename == where]
                    at = f"line {line + lines[-1]}" if lines else "a line"
                    raise BlockError(f"{where}: python block raised at {at} of {chapter.name}: {type(err).__name__}: {err}\n"
                                     f"--- block\n{code}") from err
            else:
                continue
            log(f"{where}: {language} block, {time.perf_counter() - started:.1f} s")
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
    return namespace


# --------------------------------------------------------------------------------------------
# Drawing


def _save_png(image, path: Path) -> Path:
    """Save a PIL image as an optimised PNG, reduced to a 256-colour palette if it is too large."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
    if path.stat().st_size >= MAX_BYTES:
        image.convert("RGB").quantize(256, dither=0).save(path, optimize=True)
    return path


def _copy_png(source: Path, path: Path, max_side: int | None = None) -> Path:
    from PIL import Image

    image = Image.open(source)
    image.load()
    if max_side and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return _save_png(image, path)


def _figure_to_png(fig, path: Path, dpi: int = 80) -> Path:
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    buffer.seek(0)
    return _save_png(Image.open(buffer), path)


def _column(images, gap: int = 6):
    """Images one above the other on white, left-aligned."""
    from PIL import Image

    canvas = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images) + gap * (len(images) - 1)), "white")
    y = 0
    for image in images:
        canvas.paste(image.convert("RGB"), (0, y))
        y += image.height + gap
    return canvas


def _row(images, gap: int = 6, height: int | None = None):
    """Images side by side on white, each scaled to `height` (default: the first one's)."""
    from PIL import Image

    images = [Image.fromarray(i) if not isinstance(i, Image.Image) else i for i in images]
    height = height or images[0].height
    images = [i.resize((round(i.width * height / i.height), height), Image.Resampling.LANCZOS) if i.height != height else i
              for i in images]
    canvas = Image.new("RGB", (sum(i.width for i in images) + gap * (len(images) - 1), height), "white")
    x = 0
    for image in images:
        canvas.paste(image.convert("RGB"), (x, 0))
        x += image.width + gap
    return canvas


def _checkerboard_under(rgba, square: int = 16):
    """An RGBA array composited over a grey checkerboard, the usual picture of transparency."""
    import numpy as np

    h, w = rgba.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    board = np.where(((ys // square + xs // square) % 2)[..., None] == 0, 204, 255).astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    return (alpha * rgba[..., :3] + (1 - alpha) * board + 0.5).astype(np.uint8)


def _video_frames(path: Path, count: int):
    import av
    import numpy as np

    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    return [frames[i] for i in picks]


def draw(work: Path, namespaces: dict[str, dict], docs: Path = DOCS) -> list[Path]:
    """Write every figure in FIGURES under `docs` from a tutorial run in `work`; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image, ImageDraw

    from pixelseg.viz.palette import PALETTE, colorize

    out = docs / "tutorial" / "images"
    written = []

    # -- chapter 1: the annotation and the softmax -----------------------------------------------
    ch1 = namespaces["01"]
    photo = np.array(Image.open(work / "labelme" / "chelsea.png").convert("RGB"))
    mask = np.array(Image.open(work / "cat" / "masks" / "train" / "chelsea.png"))
    classes = (work / "cat" / "classes.txt").read_text().split()
    annotated = Image.fromarray(photo)
    pen = ImageDraw.Draw(annotated)
    labelme = json.loads((work / "labelme" / "chelsea.json").read_text())
    for shape in labelme["shapes"]:
        colour = tuple(int(c) for c in PALETTE[classes.index(shape["label"])])
        pen.line([tuple(p) for p in shape["points"]] + [tuple(shape["points"][0])], fill=colour, width=3)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, picture, title in zip(axes, [photo, np.array(annotated), colorize(mask)],
                                  ["skimage.data.chelsea()", "labelme polygons (chelsea.json)", "mask after pixelseg data convert"]):
        ax.imshow(picture)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    handles = [matplotlib.patches.Patch(color=PALETTE[i] / 255, label=f"{i} {name}") for i, name in enumerate(classes)]
    axes[2].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    written.append(_figure_to_png(fig, out / "chelsea-annotation.png"))

    probabilities = ch1["probabilities"].numpy()
    fig, axes = plt.subplots(1, len(classes) + 1, figsize=(15, 2.6))
    for i, name in enumerate(classes):
        shown = axes[i].imshow(probabilities[i], cmap="magma", vmin=0, vmax=1)
        axes[i].set_title(f"softmax channel {i}: {name}", fontsize=9)
    axes[-1].imshow(colorize(ch1["predicted"].numpy().astype(np.uint8)))
    axes[-1].set_title("argmax over the channels", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.colorbar(shown, ax=axes[:-1].tolist(), fraction=0.015, pad=0.01)
    written.append(_figure_to_png(fig, out / "chelsea-softmax.png"))

    # -- chapter 2: what `pixelseg explain` drew ------------------------------------------------------
    explain = work / "explain"
    for source, name in [("textbook/02_scatter.png", "explain-scatter.png"), ("textbook/06_sliding.png", "explain-sliding.png"),
                         ("stride2/02_scatter.png", "explain-scatter-stride2.png"), ("textbook/08_matrix.png", "explain-matrix.png"),
                         ("upsampling/upsampling.png", "upsampling.png"), ("checkerboard/checkerboard.png", "checkerboard.png")]:
        written.append(_copy_png(explain / source, out / name))
    out.mkdir(parents=True, exist_ok=True)
    written.append(Path(shutil.copyfile(explain / "textbook" / "transposed_conv.gif", out / "transposed-conv.gif")))

    # -- chapter 3: the imbalanced example ---------------------------------------------------------
    ch3 = namespaces["03"]
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    panels = [(ch3["target"][0].numpy(), "target: object = 64 of 4096 pixels"),
              (ch3["lazy"].softmax(1)[0, 1].numpy(), "lazy: p(object) = 0.01 everywhere"),
              (ch3["finder"].softmax(1)[0, 1].numpy(), "finder: p(object) = 0.9 on it, 0.1 off")]
    for ax, (picture, title) in zip(axes, panels):
        shown = ax.imshow(picture, cmap="viridis", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.colorbar(shown, ax=axes.tolist(), fraction=0.02, pad=0.02)
    written.append(_figure_to_png(fig, out / "losses-imbalance.png"))

    # -- chapter 4: check, curves, confusion, predictions --------------------------------------------
    written.append(_copy_png(work / "check-shapes.png", out / "check-shapes.png", max_side=900))
    written.append(_copy_png(work / "runs" / "shapes" / "curves.png", out / "shapes-curves.png", max_side=900))
    written.append(_copy_png(work / "runs" / "shapes" / "confusion.png", out / "shapes-confusion.png", max_side=500))
    # Rows: the image, its true mask, the predicted mask (the palette PNG `predict` wrote).
    predicted = sorted(p for p in (work / "predictions" / "shapes").glob("*.png"))[:5]
    rows = [[Image.open(work / "shapes" / "images" / "val" / p.name) for p in predicted],
            [Image.fromarray(colorize(np.array(Image.open(work / "shapes" / "masks" / "val" / p.name)))) for p in predicted],
            [Image.open(p).convert("RGB") for p in predicted]]
    written.append(_save_png(_column([_row(row, height=128) for row in rows]), out / "shapes-predictions.png"))

    written += draw_applications(work, out)
    return written


def draw_applications(work: Path, out: Path) -> list[Path]:
    """Chapter 5's pictures: the bundled person model's effects on the photo, and the video."""
    import numpy as np
    from PIL import Image

    written = []
    effects = work / "effects"
    astronaut = np.array(Image.open(work / "astronaut-labelme" / "astronaut.png").convert("RGB"))
    panels = [astronaut] + [np.array(Image.open(effects / f"{name}-python.png").convert("RGB")) for name in ("replace", "blur", "retain-color")]
    panels.append(_checkerboard_under(np.array(Image.open(effects / "cutout-python.png").convert("RGBA"))))
    written.append(_save_png(_row(panels, height=200), out / "astronaut-effects.png"))
    top = _row(_video_frames(work / "astronaut.mp4", 5), height=128)
    bottom = _row(_video_frames(effects / "replace.mp4", 5), height=128)
    strip = Image.new("RGB", (max(top.width, bottom.width), top.height + bottom.height + 6), "white")
    strip.paste(top, (0, 0))
    strip.paste(bottom, (0, top.height + 6))
    written.append(_save_png(strip, out / "astronaut-video.png"))
    return written


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the test suite's tiny settings (for trying the script, not for the docs)")
    parser.add_argument("--work", type=Path, help="run the tutorial here (default: a temporary folder, removed afterwards)")
    parser.add_argument("--docs", type=Path, default=DOCS, help="write the figures under this folder (default: docs/)")
    parser.add_argument("--external", action="store_true", help="also run the commands that make the other pages' pictures")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pixelseg-figures-") as scratch:
        root = args.work or Path(scratch)
        work = prepare_workspace(root)
        env = tutorial_env(args.quick)
        namespaces = {}
        for number in CHAPTERS:
            print(f"chapter {number} ...", flush=True)
            namespaces[number] = run_chapter(chapter_path(number), work, env)
        written = draw(work, namespaces, args.docs)
    for path in written:
        size = path.stat().st_size
        print(f"{path.relative_to(args.docs)}  {size / 1024:.0f} KB{'  (over 150 KB!)' if size >= MAX_BYTES else ''}")

    if args.external:
        for picture, command in EXTERNAL.items():
            if command is None:
                print(f"{picture}: no command known to make it; left as it is")
                continue
            print(f"{picture}: {' '.join(command)}", flush=True)
            subprocess.run(command, cwd=ROOT, check=True)
    print(f"{len(written)} figures in {(time.perf_counter() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
