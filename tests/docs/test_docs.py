"""The documentation cannot drift from the code.

1. The site builds with warnings treated as errors (broken links, missing pages, unresolved API
   references fail), as `make docs` builds it.
2. Every ```bash / ```shell and ```python block of the tutorial chapters runs, in order, under the
   quick settings (`EPOCHS=1`, `PIXELSEG_DOCS_QUICK=1`: tiny data, one epoch). Shell blocks run in
   bash with this interpreter's bin folder first on PATH; the Python blocks of a chapter share one
   namespace. The working folder mirrors the reader's: `runs/tutorial` under a copy of the
   repository's `docs/tutorial/assets` and `configs`. A chapter that continues an earlier one's
   files (NEEDS below) gets that chapter run first in the same folder.
3. Every picture the docs show is one the figures script makes, and every figure it makes is shown.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "tutorial"
CHAPTERS = sorted(TUTORIAL.glob("[0-9][0-9]-*.md"))
BIN = Path(sys.executable).parent
MAX_FIGURE_BYTES = 150 * 1024

# Chapters that continue in the files an earlier chapter made (each page says so at its top).
NEEDS = {"04": ["01"], "06": ["04"]}

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
                   re.M | re.S)
SHELL, PYTHON = ("bash", "shell", "sh"), ("python", "py")


def code_blocks(path: Path) -> list[tuple[str, int, str]]:
    """(language, line number, code) of every fenced block of a Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        language = (match["info"].split() or [""])[0].lstrip(".").lower()
        line = text.count("\n", 0, match.start()) + 1
        blocks.append((language, line, textwrap.dedent(match["body"])))
    return blocks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quick_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PIXELSEG_DOCS_QUICK": "1",
        "EPOCHS": "1",
        "PORT": str(free_port()),
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
        "PYTHONUNBUFFERED": "1",
    })
    return env


# ---------------------------------------------------------------------------------------------
# 1. The site


@pytest.mark.xfail(reason="issue 9 unfinished: docs/figures/make_figures.py and chapter 2's code blocks are not written yet, so the strict build and the figure checks fail", strict=False)
def test_site_builds_strict(tmp_path):
    mkdocs = BIN / "mkdocs"
    if not mkdocs.exists() or importlib.util.find_spec("mkdocstrings") is None:
        pytest.skip("mkdocs and mkdocstrings are not installed (pip install -e '.[dev]')")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    problems = [line for line in result.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert result.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(problems or result.stderr.splitlines()[-30:])
    for chapter in CHAPTERS:
        assert (tmp_path / "site" / "tutorial" / chapter.stem / "index.html").is_file()
    assert (tmp_path / "site" / "reference" / "losses" / "index.html").is_file()


# ---------------------------------------------------------------------------------------------
# 2. Every block of the tutorial runs


class Tutorial:
    """One reader's working folder, shared by the chapters run in this process."""

    def __init__(self, root: Path):
        self.root = root
        shutil.copytree(TUTORIAL / "assets", root / "docs" / "tutorial" / "assets")
        if (ROOT / "configs").is_dir():
            shutil.copytree(ROOT / "configs", root / "configs")
        self.work = root / "runs" / "tutorial"
        self.work.mkdir(parents=True)
        self.env = quick_env()
        self.done: dict[str, str | None] = {}  # chapter number -> None when it ran, else the failure

    def run(self, number: str) -> None:
        for needed in NEEDS.get(number, []):
            if needed not in self.done:
                self.run(needed)
            if self.done[needed] is not None:
                pytest.fail(f"chapter {number} continues chapter {needed}, which failed:\n{self.done[needed]}")
        if number in self.done:
            if self.done[number] is not None:
                pytest.fail(self.done[number])
            return
        chapter = next(path for path in CHAPTERS if path.name.startswith(number))
        try:
            self._run_chapter(chapter)
        except BaseException as err:  # noqa: BLE001 - remembered for the chapters that continue this one
            self.done[number] = str(err)
            raise
        self.done[number] = None

    def _run_chapter(self, chapter: Path) -> None:
        namespace = {"__name__": f"docs_{chapter.stem.replace('-', '_')}"}
        saved_cwd, saved_env, saved_argv = os.getcwd(), dict(os.environ), sys.argv
        os.chdir(self.work)
        os.environ.clear()
        os.environ.update(self.env)
        try:
            for language, line, code in code_blocks(chapter):
                where = f"{chapter.relative_to(ROOT)}:{line}"
                started = time.perf_counter()
                if language in SHELL:
                    result = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=self.work, env=self.env,
                                            capture_output=True, text=True, timeout=900)
                    if result.returncode != 0:
                        pytest.fail(f"{where}: shell block exited {result.returncode}\n--- block\n{code}--- stdout (end)\n"
                                    f"{result.stdout[-3000:]}\n--- stderr (end)\n{result.stderr[-3000:]}")
                elif language in PYTHON:
                    sys.argv = [where]
                    try:
                        exec(compile(code, where, "exec"), namespace)
                    except Exception as err:
                        raise AssertionError(f"{where}: python block raised {type(err).__name__}: {err}\n--- block\n{code}") from err
                else:
                    continue
                print(f"{where}: {language} block {time.perf_counter() - started:.1f} s")
        finally:
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
            sys.argv = saved_argv
            import matplotlib.pyplot as plt

            plt.close("all")


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    return Tutorial(tmp_path_factory.mktemp("tutorial"))


@pytest.mark.xfail(reason="issue 9 unfinished: docs/figures/make_figures.py and chapter 2's code blocks are not written yet, so the strict build and the figure checks fail", strict=False)
def test_chapters_have_blocks():
    assert len(CHAPTERS) == 6, [path.name for path in CHAPTERS]
    for chapter in CHAPTERS:
        languages = {language for language, _, _ in code_blocks(chapter)}
        assert languages & set(SHELL + PYTHON), f"{chapter.name} has no shell or python block"


@pytest.mark.parametrize("chapter", [path.name[:2] for path in CHAPTERS])
def test_tutorial_chapter_runs(tutorial, chapter):
    tutorial.run(chapter)


# ---------------------------------------------------------------------------------------------
# 3. Pictures: made by the figures script, and all of them shown

IMAGE_REF = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|<img\s[^>]*src=\"([^\"]+)\"")


def figures_module():
    spec = importlib.util.spec_from_file_location("make_figures", DOCS / "figures" / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shown_pictures() -> dict[str, list[str]]:
    """docs-relative picture path -> the pages that show it."""
    shown: dict[str, list[str]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        text = FENCE.sub("", page.read_text(encoding="utf-8"))  # a picture inside a code block is not shown
        for match in IMAGE_REF.finditer(text):
            target = match[1] or match[2]
            if re.match(r"^[a-z]+://", target):
                continue
            path = os.path.normpath((page.parent / target.split("#")[0]).relative_to(DOCS)).replace(os.sep, "/")
            shown.setdefault(path, []).append(str(page.relative_to(DOCS)))
    return shown


@pytest.mark.xfail(reason="issue 9 unfinished: docs/figures/make_figures.py and chapter 2's code blocks are not written yet, so the strict build and the figure checks fail", strict=False)
def test_every_picture_is_made_by_the_figures_script_and_every_figure_is_shown():
    made = set(figures_module().FIGURES)
    shown = shown_pictures()
    not_made = {path: pages for path, pages in shown.items() if path not in made}
    assert not not_made, f"pictures shown but not made by docs/figures/make_figures.py: {not_made}"
    not_shown = made - set(shown)
    assert not not_shown, f"figures made by docs/figures/make_figures.py but shown on no page: {sorted(not_shown)}"


@pytest.mark.xfail(reason="issue 9 unfinished: docs/figures/make_figures.py and chapter 2's code blocks are not written yet, so the strict build and the figure checks fail", strict=False)
def test_figures_exist_and_are_small():
    for path in figures_module().FIGURES:
        file = DOCS / path
        assert file.is_file(), f"{file} is missing: run `make figures`"
        assert file.stat().st_size < MAX_FIGURE_BYTES, f"{file} is {file.stat().st_size / 1024:.0f} KB (limit 150 KB)"
