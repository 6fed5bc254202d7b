"""The run summary: what `lesr run --json` prints and what the store keeps with a finished run.

Built from the store only, so `lesr show` and a resumed run report exactly the same numbers.
Fields: run_id, status, env_id, preset, iterations, reason, best {candidate_id, iteration, score,
code_path} (the SEARCH score: single seed, selected, so biased upwards), baseline {candidate_id,
score} (the search's raw-state control), final {best {mean, std, iqm, auc, seeds, per_seed [{seed,
score, auc}]}, baseline {...}, improvement, improvement_relative, improvement_ci95, verdict,
paired_seeds, excluded_seeds, steps} (experiments/statistics.py says how each figure is computed),
verdict (one sentence), headline, search_env_steps, selection_env_steps, final_env_steps,
total_env_steps, pruning {mode, stopped_candidates, saved_candidate_steps} (with --prune halving),
selection {seeds, candidates [{candidate_id, mean, per_seed}]} (with --select-seeds; "baseline" is
the control), candidates {status: count}, llm {calls, completion_tokens, seconds}, video_path,
run_dir, wall_seconds. best is choose_best's pick: the re-evaluation's best seed mean when there
was one (best.selection_mean), else the best single-seed search score of a candidate trained to N.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from lesr_local.search.headline import headline
from lesr_local.experiments.statistics import Comparison, SeedResult, compare, curve_auc
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
    pruning: dict[str, Any] | None = None  # --prune halving: candidates cut, candidate-steps saved
    selection: dict[str, Any] | None = None  # --select-seeds: seed means of the re-evaluated candidates
    final_env_steps: int = 0
    total_env_steps: int = 0
    candidates: dict[str, int] = field(default_factory=dict)
    llm: dict[str, Any] = field(default_factory=dict)
    video_path: str | None = None
    run_dir: str | None = None
    wall_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SELECT_TOP = 3  # candidates re-evaluated on fresh seeds before the best is chosen (--select-seeds)


def selection_finalists(candidates: list[CandidateRecord], top: int = SELECT_TOP) -> list[CandidateRecord]:
    """The top search candidates trained to N_small, by search score (ties: the earlier one)."""
    finished = [c for c in candidates if c.kind == "search" and c.status == "finished" and c.score is not None
                and c.stopped_at_step is None]
    return sorted(finished, key=lambda c: (-c.score, c.created_at))[:top]  # type: ignore[operator]


def selection_means(candidates: list[CandidateRecord]) -> dict[str, list[tuple[int, float]]]:
    """Re-evaluation results: source candidate id ("baseline" for the control) -> [(seed, score)]."""
    out: dict[str, list[tuple[int, float]]] = {}
    for c in candidates:
        if c.status != "finished" or c.score is None:
            continue
        if c.kind == "selection" and c.source_candidate_id:
            out.setdefault(c.source_candidate_id, []).append((c.seed, float(c.score)))
        elif c.kind == "selection-baseline":
            out.setdefault("baseline", []).append((c.seed, float(c.score)))
    return out


def choose_best(candidates: list[CandidateRecord]) -> CandidateRecord | None:
    """The search's pick: the best seed mean of the re-evaluation when there was one, else the best
    single-seed search score. The re-evaluation uses fresh seeds only, so the luck of the search
    seed that put a candidate in the top does not carry into the choice."""
    means = selection_means(candidates)
    scored = [(sum(v for _, v in means[c.candidate_id]) / len(means[c.candidate_id]), c)
              for c in selection_finalists(candidates) if c.candidate_id in means]
    if scored:
        return max(scored, key=lambda pair: (pair[0], pair[1].score, -pair[1].created_at))[1]
    return best_search_candidate(candidates)


def best_search_candidate(candidates: list[CandidateRecord]) -> CandidateRecord | None:
    # Only candidates trained to N_small compete: a cut candidate's score is from an earlier step.
    finished = [c for c in candidates if c.kind == "search" and c.status == "finished" and c.score is not None
                and c.stopped_at_step is None]
    if not finished:
        return None
    # Highest score; ties go to the earlier candidate.
    return max(finished, key=lambda c: (c.score, -c.created_at))


def build_summary(store: Store, run_id: str, *, status: str | None = None, reason: str | None = None,
                  video_path: str | None = None) -> RunSummary:
    run = store.get_run(run_id)
    cands = store.list_candidates(run_id)
    iters = [it for it in store.list_iterations(run_id) if it.status == "finished"]
    best = choose_best(cands)
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
    means = selection_means(cands)
    if means:
        summary.selection = {
            "seeds": sorted({seed for runs in means.values() for seed, _ in runs}),
            "candidates": [{"candidate_id": cid, "mean": sum(v for _, v in runs) / len(runs),
                            "per_seed": [{"seed": seed, "score": v} for seed, v in sorted(runs)]}
                           for cid, runs in means.items()],
        }
        if summary.best is not None and summary.best["candidate_id"] in means:
            runs = means[summary.best["candidate_id"]]
            summary.best["selection_mean"] = sum(v for _, v in runs) / len(runs)
    if control is not None:
        summary.baseline = {"candidate_id": control.candidate_id, "score": control.score,
                            "status": control.status}
    if run.config.get("prune", "none") != "none":
        cut = [c for c in cands if c.kind == "search" and c.stopped_at_step is not None]
        summary.pruning = {
            "mode": run.config.get("prune"), "stopped_candidates": len(cut),
            # what the cut candidates would have trained to N_small, and did not
            "saved_candidate_steps": sum(c.total_steps - c.stopped_at_step for c in cut),  # type: ignore[operator]
        }
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
    # Steps actually spent: a finished training its full length (or the rung it was cut at), others
    # what they reached.
    if cand.stopped_at_step is not None:
        return cand.stopped_at_step
    return cand.total_steps if cand.status == "finished" else cand.steps_done
