"""The documentation cannot drift from the code.

1. The site builds with warnings treated as errors (broken links and anchors, missing pages,
   unresolved API references fail), as `make docs` builds it.
2. Every ```bash / ```shell and ```python block of the tutorial chapters runs, in order, under the
   quick settings (`EPOCHS=1`, `PIXELSEG_DOCS_QUICK=1`: tiny data, one epoch). Shell blocks run in
   bash with this interpreter's bin folder first on PATH; the Python blocks of a chapter share one
   namespace. The working folder mirrors the reader's: `runs/tutorial` beside a copy of the
   repository's `docs/tutorial/assets` and `configs`. A chapter that continues an earlier one's
   files (NEEDS below; each page says so at its top) gets that chapter run first in the same folder.
   The runner is the figures script's (docs/figures/make_figures.py), which runs the same blocks at
   full settings to make the figures.
3. Every picture the docs show is one the figures script makes (FIGURES, or EXTERNAL: made by the
   command it names), every figure it makes is shown, each is in the repository and under 150 KB,
   and its drawing code turns a (quick) tutorial run into exactly FIGURES.
"""
from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "tutorial"
CHAPTERS = sorted(TUTORIAL.glob("[0-9][0-9]-*.md"))
BIN = Path(sys.executable).parent
MAX_FIGURE_BYTES = 150 * 1024
SHELL, PYTHON = ("bash", "shell", "sh"), ("python", "py")

# Chapters that continue in the files an earlier chapter made.
NEEDS = {"04": ["01"], "06": ["04"]}


def figures_module():
    """docs/figures/make_figures.py: the block runner, FIGURES, EXTERNAL and draw()."""
    if "make_figures" not in sys.modules:
        spec = importlib.util.spec_from_file_location("make_figures", DOCS / "figures" / "make_figures.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["make_figures"] = module
        spec.loader.exec_module(module)
    return sys.modules["make_figures"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# 1. The site


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
    api = (tmp_path / "site" / "reference" / "losses" / "index.html").read_text(encoding="utf-8")
    assert "build_loss" in api and "DiceLoss" in api, "the API reference was not generated from the docstrings"


# ---------------------------------------------------------------------------------------------
# 2. Every block of the tutorial runs


class Tutorial:
    """One reader's working folder, shared by the chapters run in this process."""

    def __init__(self, root: Path):
        self.figures = figures_module()
        self.work = self.figures.prepare_workspace(root)
        self.env = self.figures.tutorial_env(quick=True, port=free_port())
        self.env.setdefault("OMP_NUM_THREADS", "1")
        self.done: dict[str, str | None] = {}  # chapter number -> None when it ran, else the failure
        self.namespaces: dict[str, dict] = {}

    def run(self, number: str) -> None:
        for needed in NEEDS.get(number, []):
            if needed not in self.done:
                try:
                    self.run(needed)
                except BaseException:  # noqa: BLE001 - reported below as this chapter's failure
                    pass
            if self.done[needed] is not None:
                pytest.fail(f"chapter {number} continues chapter {needed}, which failed:\n{self.done[needed]}", pytrace=False)
        if number in self.done:
            if self.done[number] is not None:
                pytest.fail(self.done[number], pytrace=False)
            return
        chapter = next(path for path in CHAPTERS if path.name.startswith(number))
        try:
            self.namespaces[number] = self.figures.run_chapter(chapter, self.work, self.env)
        except self.figures.BlockError as err:
            self.done[number] = str(err)
            pytest.fail(str(err), pytrace=False)
        finally:
            import matplotlib.pyplot as plt

            plt.close("all")
        self.done[number] = None


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    return Tutorial(tmp_path_factory.mktemp("tutorial"))


def test_chapters_have_blocks():
    assert len(CHAPTERS) == 6, [path.name for path in CHAPTERS]
    for chapter in CHAPTERS:
        languages = {language for language, _, _ in figures_module().code_blocks(chapter)}
        assert languages & set(SHELL + PYTHON), f"{chapter.name} has no shell or python block"


@pytest.mark.parametrize("chapter", [path.name[:2] for path in CHAPTERS])
def test_tutorial_chapter_runs(tutorial, chapter):
    tutorial.run(chapter)


def test_figures_script_draws_exactly_its_figures(tutorial, tmp_path):
    figures = figures_module()
    for number in figures.CHAPTERS:
        tutorial.run(number)
    written = figures.draw(tutorial.work, tutorial.namespaces, tmp_path)
    assert sorted(str(p.relative_to(tmp_path)).replace(os.sep, "/") for p in written) == sorted(figures.FIGURES)
    for path in written:
        assert path.stat().st_size < MAX_FIGURE_BYTES, f"{path.name}: {path.stat().st_size / 1024:.0f} KB"


# ---------------------------------------------------------------------------------------------
# 3. Pictures: made by the figures script, and all of them shown

IMG_SRC = re.compile(r"<img\s[^>]*src=\"([^\"]+)\"")


def render_page(page: Path) -> str:
    """A page as the site shows it: Python-Markdown with mkdocs.yml's extensions, so that code blocks,
    captions with brackets and raw <img> tags are read as the site reads them."""
    markdown = pytest.importorskip("markdown", reason="Python-Markdown comes with mkdocs (pip install -e '.[dev]')")
    import yaml

    extensions, configs = [], {}
    for entry in yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["markdown_extensions"]:
        name, options = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
        extensions.append(name)
        configs[name] = options or {}
    return markdown.markdown(page.read_text(encoding="utf-8"), extensions=extensions, extension_configs=configs)


def shown_pictures() -> dict[str, list[str]]:
    """docs-relative picture path -> the pages that show it."""
    shown: dict[str, list[str]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        for target in IMG_SRC.findall(render_page(page)):
            if re.match(r"^[a-z]+://", target):
                continue
            path = os.path.relpath(os.path.normpath(page.parent / target.split("#")[0]), DOCS).replace(os.sep, "/")
            shown.setdefault(path, []).append(str(page.relative_to(DOCS)))
    return shown


def test_every_picture_is_made_by_the_figures_script_and_every_figure_is_shown():
    figures = figures_module()
    made = set(figures.FIGURES)
    external = {path for path, command in figures.EXTERNAL.items() if command}
    shown = shown_pictures()
    unknown = {path: pages for path, pages in shown.items() if path not in made | external}
    assert not unknown, ("pictures shown but made by no command of docs/figures/make_figures.py "
                         f"(add them to FIGURES, or to EXTERNAL with the command that makes them): {unknown}")
    not_shown = made - set(shown)
    assert not not_shown, f"figures made by docs/figures/make_figures.py but shown on no page: {sorted(not_shown)}"


def test_figures_exist_and_are_small():
    for path in figures_module().FIGURES:
        file = DOCS / path
        assert file.is_file(), f"{file} is missing: run `make figures`"
        assert file.stat().st_size < MAX_FIGURE_BYTES, f"{file} is {file.stat().st_size / 1024:.0f} KB (limit 150 KB)"
