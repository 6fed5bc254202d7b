"""The `lesr` command: one entry point, one module per sub-command under lesr_local/commands/.

Every error the user can cause ends as one line on stderr and a documented exit code
(see lesr_local.errors); a traceback is shown only with LESR_DEBUG=1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from lesr_local import __version__
from lesr_local.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, LesrError

# Sub-command modules, in the order `lesr --help` lists them. Each defines
# `register(subparsers)`, which adds its parser and sets `func(args) -> int`.
COMMAND_MODULES = [
    "tui", "run", "evaluate", "history", "show", "export", "candidate", "train", "ablate", "transfer", "envs",
    "models", "render", "doctor", "gc", "bench",
]


class _Parser(argparse.ArgumentParser):
    """argparse, but bad usage is one line + exit 2 (argparse prints the usage block too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"lesr: error: {message} (see `{self.prog} --help`)\n")


def add_home_option(parser: argparse.ArgumentParser) -> None:
    """--home on every sub-command; SUPPRESS keeps a value given before the sub-command."""
    parser.add_argument(
        "--home", default=argparse.SUPPRESS, metavar="DIR",
        help="workspace holding the SQLite store and runs/ (default: $LESR_HOME or the user data folder)",
    )


def add_unsafe_option(parser: argparse.ArgumentParser) -> None:
    """--unsafe-no-seccomp on every command that runs candidate code: the walls fail closed without it."""
    parser.add_argument(
        "--unsafe-no-seccomp", action="store_true",
        help="run candidate code even where the sandbox's seccomp filter cannot be installed (UNSAFE: "
             "nothing then denies it sockets, file writes or new processes; `lesr doctor` says if this "
             "machine needs it)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lesr", description="LESR on your own machine: local LLM + TD3 on MuJoCo.")
    parser.add_argument("--version", action="version", version=f"lesr-local {__version__}")
    parser.add_argument("--home", default=None, metavar="DIR", help="workspace (default: $LESR_HOME)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"lesr_local.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.command is None:
        # `lesr` alone (or `lesr --home DIR`) opens the app.
        args = parser.parse_args([*argv, "tui"])
    try:
        return int(args.func(args) or 0)
    except LesrError as exc:
        _debug_traceback()
        print(f"lesr: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lesr: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, not a traceback
        _debug_traceback()
        print(f"lesr: internal error: {type(exc).__name__}: {exc} (LESR_DEBUG=1 shows details)", file=sys.stderr)
        return EXIT_INTERNAL


def _debug_traceback() -> None:
    if os.environ.get("LESR_DEBUG"):
        traceback.print_exc()
