"""The run summary: what `lesr run --json` prints and what the store keeps with a finished run.

Built from the store only, so `lesr show` and a resumed run report exactly the same numbers.
Fields: run_id, status, env_id, preset, iterations, reason, best {candidate_id, iteration, score,
code_path}, baseline {candidate_id, score}, final {best {mean, std, seeds, scores}, baseline {...},
improvement}, search_env_steps, final_env_steps, total_env_steps, candidates {status: count},
llm {calls, completion_tokens, seconds}, video_path, run_dir, wall_seconds.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from lesr_local.store import CandidateRecord, Store


@dataclass
class ArmResult:
    """One arm of the final evaluation: mean ± std (population) of the per-seed scores."""

    mean: float | None
    std: float | None
    seeds: int
    scores: list[float]

    @classmethod
    def of(cls, scores: list[float]) -> ArmResult:
        if not scores:
            return cls(mean=None, std=None, seeds=0, scores=[])
        mean = sum(scores) / len(scores)
        var = sum((s - mean) ** 2 for s in scores) / len(scores)
        return cls(mean=mean, std=math.sqrt(var), seeds=len(scores), scores=list(scores))


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
    search_env_steps: int = 0
    final_env_steps: int = 0
    total_env_steps: int = 0
    candidates: dict[str, int] = field(default_factory=dict)
    llm: dict[str, Any] = field(default_factory=dict)
    video_path: str | None = None
    run_dir: str | None = None
    wall_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def improvement(best_mean: float | None, base_mean: float | None) -> float | None:
    """(best - baseline) / |baseline|; None when undefined."""
    if best_mean is None or base_mean is None or base_mean == 0:
        return None
    return (best_mean - base_mean) / abs(base_mean)


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
    final_best = [c.score for c in cands if c.kind == "final-best" and c.status == "finished" and c.score is not None]
    final_base = [c.score for c in cands if c.kind == "final-baseline" and c.status == "finished"
                  and c.score is not None]
    search_steps = sum(_steps(c) for c in cands if c.kind in ("search", "baseline"))
    final_steps = sum(_steps(c) for c in cands if c.kind in ("final-best", "final-baseline"))
    calls = store.list_llm_calls(run_id)
    summary = RunSummary(
        run_id=run_id, status=status or run.status, env_id=run.env_id, preset=run.preset,
        iterations=len(iters), reason=reason if reason is not None else run.reason,
        search_env_steps=search_steps, final_env_steps=final_steps, total_env_steps=search_steps + final_steps,
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
    if final_best or final_base:
        arm_best, arm_base = ArmResult.of(final_best), ArmResult.of(final_base)
        summary.final = {
            "best": asdict(arm_best), "baseline": asdict(arm_base),
            "improvement": improvement(arm_best.mean, arm_base.mean), "steps": run.config.get("final_steps"),
        }
    return summary


def _steps(cand: CandidateRecord) -> int:
    # Steps actually spent: a finished training its full length, others what they reached.
    return cand.total_steps if cand.status == "finished" else cand.steps_done
