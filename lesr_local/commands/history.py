"""`lesr history`: the runs in the workspace, newest first."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from lesr_local.cli import add_home_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("history", help="list the runs in the workspace")
    add_home_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON line (a list of runs) on stdout")
    parser.set_defaults(func=_handle)


def iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def run_row(run: Any) -> dict[str, Any]:
    """One run. `headline` is the figure to show: the paired final comparison once it exists (kind
    "final"), else the search's best single-seed score (kind "search", never shown as an improvement)."""
    from lesr_local.search.headline import run_headline

    head = run_headline(run)
    return {
        "run_id": run.run_id, "kind": run.kind, "env": run.env_id, "status": run.status, "created": iso(run.created),
        "headline": head, "headline_kind": None if head is None else head["kind"],
        "headline_score": None if head is None else head["best"],
        "improvement": None if head is None else head["improvement"],
        "verdict": None if head is None else head["verdict"],
        "best_score": run.best_score, "best_candidate_id": run.best_candidate_id,
        "baseline_score": run.baseline_score, "preset": run.preset, "reason": run.reason,
    }


def _handle(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from lesr_local.output import print_json
    from lesr_local.search.headline import headline_text
    from lesr_local.store import Store
    from lesr_local.workspace import home_from

    with Store(home_from(args)) as store:
        rows = [run_row(run) for run in store.list_runs()]
    if args.json:
        print_json(rows)
        return 0
    console = Console(width=None if sys.stdout.isatty() else 160, markup=False)  # ids and reasons from the store
    if not rows:
        console.print("no runs yet; start one with `lesr run --env InvertedPendulum-v5 --preset smoke`")
        return 0
    table = Table(title="runs")
    for name in ("run id", "env", "preset", "status", "created", "headline"):
        table.add_column(name)
    for row in rows:
        table.add_row(row["run_id"] + ("" if row["kind"] == "search" else " (evaluate)"), row["env"], row["preset"], row["status"], row["created"] or "-",
                      headline_text(row["headline"]))
    console.print(table)
    return 0

