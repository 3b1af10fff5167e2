"""The `pixelseg` command. Each sub-command lives in its own module of this package and exposes

    HELP: str                      one line for `pixelseg --help`
    add_arguments(parser) -> None  its flags
    run(args) -> int               the work (delegated to the library below cli/)

Only argument parsing happens in cli/; nothing below it reads sys.argv. `main` turns every error a
user can cause into one line and an exit status (cli/errors.py); a flag's bad value is one line too.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from pixelseg.cli.errors import USAGE, debug_requested, describe, warnings_as_lines

# Sub-command name -> module. Order is the order `pixelseg --help` lists them.
COMMANDS = {
    "demo": "pixelseg.cli.demo",
    "train": "pixelseg.cli.train",
    "evaluate": "pixelseg.cli.evaluate",
    "predict": "pixelseg.cli.predict",
    "apply": "pixelseg.cli.apply",
    "live": "pixelseg.cli.live",
    "export": "pixelseg.cli.export",
    "data": "pixelseg.cli.data",
    "explain": "pixelseg.cli.explain",
    "serve": "pixelseg.cli.serve",
    "annotate": "pixelseg.cli.annotate",
}


def _load_commands(names) -> dict:
    """Each command's module; every one exists, so a renamed module is an ImportError, not a missing command."""
    return {name: importlib.import_module(COMMANDS[name]) for name in names}


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (`pixelseg train: error: argument --epochs: ...`), not the
    whole usage text of a command with fifty flags first. Sub-command parsers are of this class too."""

    def error(self, message: str):
        self.exit(USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


DEBUG_HELP = "on an error, also print the traceback (for a bug report); the same as PIXELSEG_DEBUG=1"


def _add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """--debug after any (sub-)command too: `pixelseg data check DIR --debug`."""
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_parser in action.choices.values():
                _add_debug_flag(sub_parser)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or with `only` a parser that imports just that command's module: each
    command pulls in its own heavy libraries, and `pixelseg explain` should not wait for ONNX."""
    from pixelseg import __version__

    parser = Parser(prog="pixelseg", description="Semantic segmentation: every pixel gets a class.")
    parser.add_argument("--version", action="version", version=f"pixelseg {__version__}")
    parser.add_argument("--debug", action="store_true", default=False, help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _load_commands([only] if only in COMMANDS else COMMANDS).items():
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        _add_debug_flag(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)  # `pixelseg --debug train`: train
    args = build_parser(only=command).parse_args(argv)
    name = " ".join(filter(None, [args.command, getattr(args, "data_command", None)]))  # "data check"
    try:
        with warnings_as_lines(name):
            return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"pixelseg {name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stderr.close()
        return 0
    except Exception as err:
        described = describe(err)
        if described is None:  # a bug: the traceback is what a report needs
            raise
        message, code = described
        if debug_requested(args):
            traceback.print_exc()
        print(f"pixelseg {name}: error: {message}", file=sys.stderr)
        return code
