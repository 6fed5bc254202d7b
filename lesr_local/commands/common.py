"""Helpers shared by sub-commands: JSON output, the workspace option."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lesr_local.workspace import ensure_writable_home, resolve_home


def home_from(args: argparse.Namespace, *, create: bool = True) -> Path:
    home = resolve_home(getattr(args, "home", None))
    return ensure_writable_home(home) if create else home


def print_json(payload: Any) -> None:
    """One JSON document on one line on stdout (scripts read it with `json.loads`)."""
    sys.stdout.write(json.dumps(payload, default=_json_default) + "\n")
    sys.stdout.flush()


def print_report(payload: dict[str, Any], as_json: bool) -> None:
    """A flat report: one JSON line with --json, else one aligned `key value` line per entry."""
    if as_json:
        print_json(payload)
        return
    width = max((len(k) for k in payload), default=0) + 2
    for key, value in payload.items():
        sys.stdout.write(f"{key:{width}s}{value}\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
