"""The layers of docs/ARCHITECTURE.md, enforced: imports point down only (pyproject.toml's
[tool.importlinter] contracts), and using a model does not load training."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("importlinter")


def run_python(code: str) -> subprocess.CompletedProcess:
    """`python -c code` in a fresh process that imports this checkout's pixelseg."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept():
    result = run_python("import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module", ["pixelseg.inference", "pixelseg.apply", "pixelseg.serve"])
def test_using_a_model_does_not_load_training(module):
    result = run_python(f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))")
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert "pixelseg.inference.predictor" in loaded or module != "pixelseg.inference"
    for heavy in ("matplotlib", "pixelseg.engine.trainer", "pixelseg.engine.evaluator", "pixelseg.losses", "tensorboard"):
        assert heavy not in loaded, f"import {module} loaded {heavy}"
