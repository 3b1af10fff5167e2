"""`pixelseg annotate`'s arguments: every mistake is one line and an exit status, before anything listens."""
from __future__ import annotations

import pytest

from pixelseg.cli import build_parser, main
from pixelseg.serve import listen
from tests.annotate import photo_folder
from tests.inference.helpers import tiny_checkpoint


def one_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_defaults_bind_to_this_machine_only():
    args = build_parser().parse_args(["annotate", "photos"])
    assert (args.host, args.port, args.checkpoint, args.classes) == ("127.0.0.1", 8001, None, None)
    assert "annotate" in build_parser().format_help()


@pytest.mark.parametrize("argv, code, words", [
    (["--port", "99999"], 2, ["--port", "99999"]),
    (["--max-megapixels", "0"], 2, ["--max-megapixels"]),
    ([], 2, ["classes.txt", "--classes"]),
    (["--classes", "background,,cat"], 2, ["--classes", "none empty"]),
    (["--classes", "background,cat,cat"], 2, ["named twice"]),
    (["--checkpoint", "{tmp}/missing.pt", "--classes", "background,person,sky"], 2, ["missing.pt"]),
    (["--checkpoint", "{ckpt}", "--classes", "background,cat"], 1, ["3 classes", "2 ("]),
])
def test_mistakes_are_one_line(tmp_path, capsys, argv, code, words):
    photo_folder(tmp_path / "photos", count=1, split=None)
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt") if "{ckpt}" in argv else None
    argv = [a.format(tmp=tmp_path, ckpt=ckpt) for a in argv]
    try:
        status = main(["annotate", str(tmp_path / "photos"), *argv])
    except SystemExit as exit:  # a flag's bad value: argparse's one line
        status = exit.code
    assert status == code
    line = one_line(capsys)
    assert line.startswith("pixelseg annotate"), line
    for word in words:
        assert word in line, line


def test_a_missing_folder_and_a_busy_port(tmp_path, capsys):
    assert main(["annotate", str(tmp_path / "nowhere"), "--classes", "background,cat"]) == 1
    assert "folder not found" in one_line(capsys)
    photo_folder(tmp_path / "photos", count=1)
    busy = listen("127.0.0.1", 0)
    try:
        port = busy.getsockname()[1]
        assert main(["annotate", str(tmp_path / "photos"), "--classes", "background,cat", "--port", str(port)]) == 2
        assert "another server is using it" in one_line(capsys)
    finally:
        busy.close()
