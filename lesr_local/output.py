"""What commands and benchmarks print on stdout: one JSON line (for scripts) or aligned text."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any


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
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
