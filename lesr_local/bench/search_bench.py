"""`lesr bench search`: what successive halving saves, and whether it changes the pick.

One fixed set of K candidates (the search candidates of a finished run, or the files given) goes
through one search iteration twice in the same invocation, with `--prune none` and with
`--prune halving`, on the same seed and settings: the replay LLM (search/replay.py) hands both runs
the same modules in the same order, so only the pruning differs. The raw-state control, the
re-evaluation and the final evaluation are left out (SearchEngine(search_only=True)): they cost the
same with or without pruning. Reported: the candidate env steps each spent (and their ratio; the
goal is halving <= 55 % of unpruned), whether both picked the same candidate, and the Spearman rank
correlation of the two final orderings (unpruned: by score at N; halving: by how far a candidate
got, then by its score there). The runs live in a temporary workspace and are not kept.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lesr_local.candidates.extract import drop_main_block
from lesr_local.config import preset, with_overrides
from lesr_local.errors import BadInput
from lesr_local.output import print_json
from lesr_local.search.engine import SearchEngine
from lesr_local.search.replay import replay_factory
from lesr_local.search.reporter import HeadlessReporter
from lesr_local.store import Store
from lesr_local.workspace import home_from

GOAL_RATIO = 0.55


def run_search_bench(args: argparse.Namespace) -> int:
    codes = _candidate_codes(args, home_from(args))
    base = with_overrides(preset(args.preset), env_id=args.env, samples=len(codes), iterations=1, steps=args.steps,
                          seed=args.seed, workers=args.workers, select_seeds=0, render_video=False,
                          **{"llm.repair_attempts": 0})
    reporter = HeadlessReporter()
    results: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="lesr-bench-search-") as tmp:
            for mode in ("none", "halving"):
                results[mode] = _one_search(Path(tmp), with_overrides(base, prune=mode), codes, reporter)
    finally:
        reporter.close()
    none, halving = results["none"], results["halving"]
    ratio = halving["search_env_steps"] / none["search_env_steps"] if none["search_env_steps"] else None
    payload = {
        "env": base.env_id, "samples": len(codes), "steps": base.steps, "seed": base.seed, "preset": args.preset,
        "start_steps": base.td3.start_steps, "eval_every": base.eval.every,
        "none": none, "halving": halving,
        "steps_ratio": None if ratio is None else round(ratio, 4),
        "same_pick": none["best"] == halving["best"],
        "rank_correlation": spearman(none["ordering"], halving["ordering"]),
        "goal": f"halving spends <= {GOAL_RATIO:.0%} of the unpruned candidate steps",
        "goal_met": ratio is not None and ratio <= GOAL_RATIO,
    }
    if args.json:
        print_json(payload)
    else:
        print(f"unpruned: {none['search_env_steps']} candidate steps, best {none['best']}, {none['wall_seconds']} s\n"
              f"halving:  {halving['search_env_steps']} candidate steps, best {halving['best']}, "
              f"{halving['wall_seconds']} s\nratio {payload['steps_ratio']}, same pick: {payload['same_pick']}, "
              f"rank correlation {payload['rank_correlation']}")
    return 0


def _one_search(home: Path, config: Any, codes: list[str], reporter: Any) -> dict[str, Any]:
    started = time.monotonic()
    with Store(home) as store:
        engine = SearchEngine(store, reporter, llm_client_factory=replay_factory(codes), search_only=True)
        summary = engine.start(config).to_dict()
        cands = store.candidate_views(summary["run_id"])
    failed = [c for c in cands if c.status in ("failed", "rejected")]
    return {
        "search_env_steps": summary["search_env_steps"],
        "wall_seconds": round(time.monotonic() - started, 1),
        "best": (summary.get("best") or {}).get("candidate_id"),
        "ordering": final_ordering(cands),
        "candidates": [{"candidate_id": c.candidate_id, "status": c.status, "score": c.score,
                        "stopped_at_step": c.stopped_at_step, "reason": c.reason} for c in cands],
        "failed": len(failed),
        "pruning": summary.get("pruning"),
    }


def final_ordering(cands: list[Any]) -> list[str]:
    """Best first: how far a candidate got (N, or its rung), then its score there, then sampling order."""
    ranked = [c for c in cands if c.status == "finished" and c.score is not None and c.training is not None]
    ranked.sort(key=lambda c: (-(c.stopped_at_step or c.training.total_steps), -c.score, c.candidate.sample or 0))
    return [c.candidate_id for c in ranked]


def spearman(first: list[str], second: list[str]) -> float | None:
    """Spearman's rho of two orderings over the ids they share (None below 2 shared ids)."""
    shared = [cid for cid in first if cid in second]
    n = len(shared)
    if n < 2:
        return None
    rank_a = {cid: i for i, cid in enumerate(shared)}
    rank_b = {cid: i for i, cid in enumerate([cid for cid in second if cid in rank_a])}
    d2 = sum((rank_a[cid] - rank_b[cid]) ** 2 for cid in shared)
    return round(1.0 - 6.0 * d2 / (n * (n * n - 1)), 4)


def _candidate_codes(args: argparse.Namespace, home: Path) -> list[str]:
    if bool(args.run) == bool(args.candidates):
        raise BadInput("lesr bench search needs either --run RUN_ID or --candidates FILE.py [FILE.py ...]")
    if args.candidates:
        codes = []
        for name in args.candidates:
            path = Path(name)
            try:
                codes.append(drop_main_block(path.read_text()))
            except OSError as exc:
                raise BadInput(f"cannot read candidate file {path}: {exc.strerror or exc}") from None
    else:
        with Store(home) as store:
            run = store.get_run(args.run)
            if run.env_id != args.env:
                raise BadInput(f"run {args.run} searched {run.env_id}, not {args.env}; pass --env {run.env_id}")
            codes = [c.code for c in store.list_candidates(args.run) if c.iteration is not None
                     if c.code and c.status != "rejected"]
    if args.samples is not None:
        codes = codes[: args.samples]
    if len(codes) < 2:
        raise BadInput(f"lesr bench search needs at least 2 candidates to prune, got {len(codes)}")
    print(f"lesr bench search: {len(codes)} candidates, --prune none then --prune halving", file=sys.stderr)
    return codes
