"""The run summary: what `lesr run --json` prints and what the store keeps with a finished run.

Built from the store only, so `lesr show` and a resumed run report exactly the same numbers.
Fields: run_id, status, env_id, preset, iterations, reason, best {candidate_id, iteration, score,
code_path} (the SEARCH score: single seed, selected, so biased upwards), baseline {candidate_id,
score} (the search's raw-state control), final {best {mean, std, iqm, auc, seeds, per_seed [{seed,
score, auc}]}, baseline {...}, improvement, improvement_relative, improvement_ci95, verdict,
paired_seeds, excluded_seeds, steps} (search/statistics.py says how each figure is computed),
verdict (one sentence), headline, search_env_steps, selection_env_steps, final_env_steps,
total_env_steps, candidates {status: count}, llm {calls, completion_tokens, seconds}, video_path,
run_dir, wall_seconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from lesr_local.search.headline import headline
from lesr_local.search.statistics import Comparison, SeedResult, compare, curve_auc
from lesr_local.store import CandidateRecord, Store

# Kinds of training and which budget line their env steps count in.
SEARCH_KINDS = ("search", "baseline")
SELECTION_KINDS = ("selection", "selection-baseline")
FINAL_KINDS = ("final-best", "final-baseline")


@dataclass
class RunSummary:
    run_id: str
    status: str
    env_id: str
    preset: str
    iterations: int
    reason: str | None = None
    best: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    final: dict[str, Any] | None = None
    verdict: str | None = None
    headline: dict[str, Any] | None = None
    search_env_steps: int = 0
    selection_env_steps: int = 0
    final_env_steps: int = 0
    total_env_steps: int = 0
    candidates: dict[str, int] = field(default_factory=dict)
    llm: dict[str, Any] = field(default_factory=dict)
    video_path: str | None = None
    run_dir: str | None = None
    wall_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def best_search_candidate(candidates: list[CandidateRecord]) -> CandidateRecord | None:
    finished = [c for c in candidates if c.kind == "search" and c.status == "finished" and c.score is not None]
    if not finished:
        return None
    # Highest score; ties go to the earlier candidate.
    return max(finished, key=lambda c: (c.score, -c.created_at))


def build_summary(store: Store, run_id: str, *, status: str | None = None, reason: str | None = None,
                  video_path: str | None = None) -> RunSummary:
    run = store.get_run(run_id)
    cands = store.list_candidates(run_id)
    iters = [it for it in store.list_iterations(run_id) if it.status == "finished"]
    best = best_search_candidate(cands)
    control = next((c for c in cands if c.kind == "baseline"), None)
    search_steps = sum(_steps(c) for c in cands if c.kind in SEARCH_KINDS)
    selection_steps = sum(_steps(c) for c in cands if c.kind in SELECTION_KINDS)
    final_steps = sum(_steps(c) for c in cands if c.kind in FINAL_KINDS)
    calls = store.list_llm_calls(run_id)
    summary = RunSummary(
        run_id=run_id, status=status or run.status, env_id=run.env_id, preset=run.preset,
        iterations=len(iters), reason=reason if reason is not None else run.reason,
        search_env_steps=search_steps, selection_env_steps=selection_steps, final_env_steps=final_steps,
        total_env_steps=search_steps + selection_steps + final_steps,
        candidates=dict(Counter(c.status for c in cands if c.kind == "search")),
        llm={
            "calls": len(calls), "completion_tokens": sum(c.completion_tokens for c in calls),
            "seconds": round(sum(c.seconds for c in calls), 3),
        },
        video_path=video_path, run_dir=str(store.runs_dir / run_id),
        wall_seconds=round((run.finished_at or run.updated) - run.created, 3),
    )
    if best is not None:
        summary.best = {
            "candidate_id": best.candidate_id, "iteration": best.iteration, "score": best.score,
            "code_path": best.code_path, "extra_dims": best.extra_dims,
        }
    if control is not None:
        summary.baseline = {"candidate_id": control.candidate_id, "score": control.score,
                            "status": control.status}
    comparison = final_comparison(cands)
    if comparison is not None:
        summary.final = {**comparison.final_dict(), "steps": run.config.get("final_steps")}
        summary.verdict = comparison.sentence
    summary.headline = headline(summary.final, summary.best, summary.baseline)
    return summary


def final_comparison(cands: list[CandidateRecord]) -> Comparison | None:
    """The paired comparison of the final evaluation; None before any final training ended."""
    arms: dict[str, dict[int, SeedResult]] = {"final-best": {}, "final-baseline": {}}
    failures: dict[int, dict[str, str]] = {}
    ended = False
    for c in cands:
        if c.kind not in arms or c.seed is None:
            continue
        arm = "best" if c.kind == "final-best" else "baseline"
        if c.status == "finished" and c.score is not None:
            arms[c.kind][c.seed] = SeedResult(seed=c.seed, score=float(c.score), auc=curve_auc(c.curve or []))
            ended = True
        elif c.status in ("failed", "rejected"):
            failures.setdefault(c.seed, {})[arm] = c.reason or c.status
            ended = True
    if not ended:
        return None
    return compare(arms["final-best"], arms["final-baseline"], failures)


def _steps(cand: CandidateRecord) -> int:
    # Steps actually spent: a finished training its full length, others what they reached.
    return cand.total_steps if cand.status == "finished" else cand.steps_done
