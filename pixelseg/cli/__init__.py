"""The `pixelseg` command. Each sub-command lives in its own module of this package and exposes

    HELP: str                      one line for `pixelseg --help`
    add_arguments(parser) -> None  its flags
    run(args) -> int               the work (delegated to the library below cli/)

Only argument parsing happens in cli/; nothing below it reads sys.argv.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from pixelseg.errors import PixelsegError

# Sub-command name -> module. Order is the order `pixelseg --help` lists them.
COMMANDS = {
    "demo": "pixelseg.cli.demo",
    "train": "pixelseg.cli.train",
    "evaluate": "pixelseg.cli.evaluate",
    "predict": "pixelseg.cli.predict",
    "apply": "pixelseg.cli.apply",
    "export": "pixelseg.cli.export",
    "data": "pixelseg.cli.data",
    "explain": "pixelseg.cli.explain",
    "serve": "pixelseg.cli.serve",
}


def _load_commands(names) -> dict:
    modules = {}
    for name in names:
        module_name = COMMANDS[name]
        try:
            modules[name] = importlib.import_module(module_name)
        except ModuleNotFoundError as err:  # a command not built yet; a missing dependency still raises
            if err.name != module_name:
                raise
    return modules


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or with `only` a parser that imports just that command's module: each
    command pulls in its own heavy libraries, and `pixelseg explain` should not wait for ONNX."""
    from pixelseg import __version__

    parser = argparse.ArgumentParser(prog="pixelseg", description="Semantic segmentation: every pixel gets a class.")
    parser.add_argument("--version", action="version", version=f"pixelseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _load_commands([only] if only in COMMANDS else COMMANDS).items():
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(only=argv[0] if argv else None).parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except PixelsegError as err:
        print(f"pixelseg {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pixelseg {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stderr.close()
        return 0
