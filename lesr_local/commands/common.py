"""Helpers shared by sub-commands: the workspace option. (Printing is `lesr_local.output`.)"""

from __future__ import annotations

import argparse
from pathlib import Path

from lesr_local.workspace import ensure_writable_home, resolve_home


def home_from(args: argparse.Namespace, *, create: bool = True) -> Path:
    home = resolve_home(getattr(args, "home", None))
    return ensure_writable_home(home) if create else home
