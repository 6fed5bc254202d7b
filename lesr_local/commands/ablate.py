"""`lesr ablate RUN_ID`: train the variants of a run's best candidate side by side on paired seeds."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from typing import Any

from lesr_local.cli import add_home_option, add_unsafe_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ablate", help="which part of the best candidate helped: full, features_only, reward_only, potential, raw")
    add_home_option(parser)
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument("--variants", default=None, metavar="LIST",
                        help="comma-separated subset of full,features_only,reward_only,additive,potential,raw "
                             "(default: all but additive; raw is always included)")
    parser.add_argument("--seeds", type=int, default=None, metavar="S",
                        help="paired seeds (default: the run's final-evaluation seeds)")
    parser.add_argument("--steps", type=int, default=None, metavar="N",
                        help="TD3 steps per training, above the run's td3.start_steps (the random "
                             "warm-up; default: the run's final-evaluation steps)")
    parser.add_argument("--workers", type=int, default=None, metavar="W",
                        help="concurrent trainings (default: the run's setting, else the core count)")
    parser.add_argument("--no-reuse", action="store_true",
                        help="train every variant afresh (default: identical trainings in the home are reused)")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    add_unsafe_option(parser)
    parser.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    from lesr_local.errors import BadInput
    from lesr_local.experiments.ablation import ablation_report, parse_variants, plan_ablation, run_ablation
    from lesr_local.output import print_json
    from lesr_local.store import Store
    from lesr_local.trainings.executors import LocalProcessExecutor, default_workers
    from lesr_local.workspace import home_from

    variants = parse_variants(args.variants)
    if args.workers is not None and args.workers < 1:
        raise BadInput(f"--workers must be at least 1, got {args.workers}")
    with Store(home_from(args)) as store:
        plan = plan_ablation(store, args.run_id, variants, args.seeds, args.steps)
        if args.unsafe_no_seccomp:
            plan = dataclasses.replace(plan, config=dataclasses.replace(plan.config, unsafe_no_seccomp=True))
        if not args.json:
            print(f"ablating {plan.candidate_id} of run {plan.run_id}: {', '.join(plan.variants)} x seeds "
                  f"{plan.seeds} x {plan.steps} steps (run shaping: {plan.config.shaping})", file=sys.stderr)
        executor = LocalProcessExecutor(args.workers or plan.config.workers or default_workers())
        cancel = threading.Event()
        previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
        try:
            run_ablation(store, plan, executor, cancel, None if args.json else _stderr,
                         reuse=plan.config.reuse and not args.no_reuse)
        finally:
            signal.signal(signal.SIGINT, previous)
            executor.close()
        report = next(r for r in ablation_report(store.list_trainings(plan.run_id, purpose="ablation"))
                      if r["group_id"] == plan.group_id)
    report = {"run_id": plan.run_id, "run_shaping": plan.config.shaping, **_only(report, plan.variants)}
    if args.json:
        print_json(report)
    else:
        print_ablation(report)
    return 0


def _only(report: dict[str, Any], variants: list[str]) -> dict[str, Any]:
    """The variants asked for this time (the store may hold more for the same budget)."""
    return {**report, "variants": [v for v in report["variants"] if v["variant"] in variants],
            "differences_from_raw": [d for d in report["differences_from_raw"] if d["variant"] in variants]}


def _stderr(line: str) -> None:
    print(f"  {line}", file=sys.stderr)


def print_ablation(report: dict[str, Any]) -> None:
    """The ablation table (also used by `lesr show`)."""
    from rich.console import Console
    from rich.table import Table

    from lesr_local.experiments.ablation import difference_text

    console = Console(width=None if sys.stdout.isatty() else 160, markup=False)  # ids and reasons from the store
    table = Table(title=f"ablation of {report['candidate_id']}: {report['steps']} steps, seeds {report['seeds']}")
    for name in ("variant", "per seed", "mean ± std", "IQM", "Δ vs raw (bootstrap 95% CI, t 95% CI)"):
        table.add_column(name)
    diffs = {d["variant"]: d for d in report["differences_from_raw"]}
    for v in report["variants"]:
        seeds = ", ".join("-" if p["score"] is None else f"{p['score']:.1f}" for p in v["per_seed"])
        mean = "-" if v["mean"] is None else f"{v['mean']:.2f} ± {v['std']:.2f}"
        iqm = "-" if v["iqm"] is None else f"{v['iqm']:.2f}"
        d = diffs.get(v["variant"])
        delta = difference_text(d)[0] if d is not None else "(reference)" if v["variant"] == "raw" else "-"
        table.add_row(v["variant"], seeds, mean, iqm, delta)
    console.print(table)
