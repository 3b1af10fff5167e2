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


def _load_commands() -> dict:
    modules = {}
    for name, module_name in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(module_name)
        except ModuleNotFoundError as err:  # a command not built yet; a missing dependency still raises
            if err.name != module_name:
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    from pixelseg import __version__

    parser = argparse.ArgumentParser(prog="pixelseg", description="Semantic segmentation: every pixel gets a class.")
    parser.add_argument("--version", action="version", version=f"pixelseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _load_commands().items():
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except PixelsegError as err:
        print(f"pixelseg {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pixelseg {args.command}: interrupted", file=sys.stderr)
        return 130
