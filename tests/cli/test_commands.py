"""Every sub-command's module exists; a missing one is an error, not a command gone from --help."""
import pytest

import pixelseg.cli as cli


def test_every_command_is_in_the_help():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == list(cli.COMMANDS)


def test_a_missing_command_module_fails_loudly(monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "gone", "pixelseg.cli.gone")
    with pytest.raises(ModuleNotFoundError, match="pixelseg.cli.gone"):
        cli.build_parser()
