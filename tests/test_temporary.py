"""Atomic writes end with the mode a plain open() / mkdir() would give (0666 / 0777 less the umask),
not mkstemp's 0600: other users and containers must be able to read checkpoints and masks."""
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from pixelseg.engine.checkpoint import atomic_save
from pixelseg.engine.config import TrainConfig, write_config
from pixelseg.engine.trainer import write_metrics
from pixelseg.inference.atomic import atomic_dir, save_image
from pixelseg.temporary import create_temporary


@pytest.fixture(params=[0o022, 0o077])
def umask(request):
    before = os.umask(request.param)
    yield request.param
    os.umask(before)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_atomic_writer_keeps_the_umask(tmp_path, umask):
    with atomic_dir(tmp_path / "frames") as frames:
        (frames / "000000.png").write_bytes(b"")
    files = [
        atomic_save({"x": 1}, tmp_path / "best.pt"),
        write_config(TrainConfig(data="d"), tmp_path / "config.yaml"),
        save_image(np.zeros((4, 4), np.uint8), tmp_path / "mask.png"),
        save_image(np.zeros((4, 4, 3), np.uint8), tmp_path / "overlay.jpg"),
    ]
    write_metrics(tmp_path / "metrics.csv", [])
    files.append(tmp_path / "metrics.csv")
    assert {path.name: mode(path) for path in files} == {path.name: 0o666 & ~umask for path in files}
    assert mode(tmp_path / "frames") == 0o777 & ~umask
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_temporary_names_do_not_collide(tmp_path):
    made = set()
    for _ in range(50):
        fd, path = create_temporary(tmp_path, ".x.", ".tmp")
        os.close(fd)
        made.add(path)
    assert len(made) == 50 and all(p.name.startswith(".x.") and p.name.endswith(".tmp") for p in made)


def test_every_writer_names_its_temporaries_for_the_sweep(tmp_path, monkeypatch):
    """A write killed between its temporary and the rename leaves `.<name>.<hex>.tmp[.suffix]`,
    which remove_stale_temporaries finds for that output (issue 16)."""
    from pixelseg.temporary import remove_stale_temporaries

    def killed(*args):  # the process dies here: no rename, and no cleanup either
        raise SystemExit

    monkeypatch.setattr(os, "replace", killed)
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: None)
    writers = {"last.pt": lambda p: atomic_save({"x": 1}, p), "config.yaml": lambda p: write_config(TrainConfig(data="d"), p),
               "metrics.csv": lambda p: write_metrics(p, []), "mask.png": lambda p: save_image(np.zeros((2, 2), np.uint8), p)}
    for name, write in writers.items():
        with pytest.raises(SystemExit):
            write(tmp_path / name)
    monkeypatch.undo()
    assert len(list(tmp_path.iterdir())) == len(writers)
    assert remove_stale_temporaries(tmp_path, list(writers)) == len(writers)
    assert not list(tmp_path.iterdir())
