"""`lesr tui` (and `lesr` alone): the Textual app."""

from __future__ import annotations

import argparse

from lesr_local.cli import add_home_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tui", help="the terminal app: new run, live view, history, models")
    add_home_option(parser)
    parser.add_argument("--no-preview", action="store_true",
                        help="no live frame preview of the policy (saves CPU while training)")
    parser.set_defaults(func=_tui)


def _tui(args: argparse.Namespace) -> int:
    from lesr_local.tui.app import require_terminal
    from lesr_local.workspace import home_from

    require_terminal()  # before anything slow: without a TTY, fail at once with one line
    from lesr_local.tui.app import run_app

    return run_app(home_from(args), preview=not getattr(args, "no_preview", False))
