"""The run summary: what `lesr run --json` prints and what the store keeps with a finished run.

Built from the store only, so `lesr show` and a resumed run report exactly the same numbers.
Fields: run_id, kind (search | evaluation), status, env_id, preset, iterations, reason,
best {candidate_id, iteration, score, code_path, extra_dims, selection_mean} (the SEARCH score: single
seed, selected, so biased upwards), control {training_id, score, status} (the search's raw-state
control; also under its v1 name `baseline`), final {best, raw (also as `baseline`) {mean, std, iqm,
auc, seeds, per_seed [{seed, score, auc}]}, improvement, improvement_relative, improvement_ci95,
improvement_ci95_t, verdict, paired_seeds, excluded_seeds, candidate_failed_seeds,
seeds_for_detection, more_seeds_command, steps} (experiments/statistics.py says how each figure is
computed), verdict (one sentence), headline, search_env_steps, selection_env_steps, final_env_steps,
total_env_steps (every env step behind the numbers), reused_env_steps (the part of them taken from
trainings already in the home), trained_env_steps, pruning, selection, candidates {status: count},
llm, video_path, run_dir, wall_seconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from lesr_local.experiments.evaluation import final_comparison
from lesr_local.experiments.statistics import MAX_SEEDS_ESTIMATE
from lesr_local.search.headline import headline
from lesr_local.search.selection import choose_best, read_selection, selection_finalists
from lesr_local.store import Store, TrainingRecord

# Which budget line a training's env steps count in.
SEARCH_PURPOSES = ("search", "control")
SELECTION_PURPOSES = ("selection",)
FINAL_PURPOSES = ("final",)


@dataclass
class RunSummary:
    run_id: str
    status: str
    env_id: str
    preset: str
    iterations: int
    kind: str = "search"
    reason: str | None = None
    best: dict[str, Any] | None = None
    control: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None  # v1 name of `control`, kept for scripts
    final: dict[str, Any] | None = None
    verdict: str | None = None
    headline: dict[str, Any] | None = None
    search_env_steps: int = 0
    selection_env_steps: int = 0
    pruning: dict[str, Any] | None = None  # --prune halving: candidates cut, candidate-steps saved
    selection: dict[str, Any] | None = None  # --select-seeds: the re-evaluation
    final_env_steps: int = 0
    total_env_steps: int = 0
    reused_env_steps: int = 0
    trained_env_steps: int = 0
    candidates: dict[str, int] = field(default_factory=dict)
    llm: dict[str, Any] = field(default_factory=dict)
    video_path: str | None = None
    run_dir: str | None = None
    wall_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_summary(store: Store, run_id: str, *, status: str | None = None, reason: str | None = None,
                  video_path: str | None = None) -> RunSummary:
    run = store.get_run(run_id)
    trainings = store.list_trainings(run_id)
    views = store.candidate_views(run_id)
    iters = [it for it in store.list_iterations(run_id) if it.status == "finished"]
    own = [t for t in trainings if t.purpose in SEARCH_PURPOSES + SELECTION_PURPOSES + FINAL_PURPOSES]
    calls = store.list_llm_calls(run_id)
    summary = RunSummary(
        run_id=run_id, kind=run.kind, status=status or run.status, env_id=run.env_id, preset=run.preset,
        iterations=len(iters), reason=reason if reason is not None else run.reason,
        search_env_steps=_steps(own, SEARCH_PURPOSES), selection_env_steps=_steps(own, SELECTION_PURPOSES),
        final_env_steps=_steps(own, FINAL_PURPOSES), total_env_steps=sum(t.env_steps for t in own),
        reused_env_steps=sum(min(t.reused_steps, t.env_steps) for t in own),
        trained_env_steps=sum(t.trained_steps for t in own),
        candidates=dict(Counter(v.status for v in views if v.iteration is not None)),
        llm={"calls": len(calls), "completion_tokens": sum(c.completion_tokens for c in calls),
             "seconds": round(sum(c.seconds for c in calls), 3)},
        video_path=video_path or _previous(run.summary, "video_path"), run_dir=str(store.runs_dir / run_id),
        wall_seconds=round((run.finished_at or run.updated) - run.created, 3),
    )
    best = choose_best(views, trainings) if run.kind == "search" else next(iter(views), None)
    if run.best_candidate_id and run.kind == "search":  # the pick the run made (a resumed run keeps it)
        best = next((v for v in views if v.candidate_id == run.best_candidate_id), best)
    if best is not None:
        summary.best = {"candidate_id": best.candidate_id, "iteration": best.iteration, "score": best.score,
                        "code_path": best.candidate.code_path, "extra_dims": best.extra_dims}
    outcome = read_selection(selection_finalists(views), trainings)
    if outcome.per_seed:
        summary.selection = {
            "seeds": sorted({seed for runs in outcome.per_seed.values() for seed in runs}),
            "common_seeds": outcome.common_seeds, "disqualified": outcome.disqualified,
            "candidates": [{"candidate_id": cid, "mean": outcome.means.get(cid),
                            "per_seed": [{"seed": s, "score": v} for s, v in sorted(runs.items())]}
                           for cid, runs in outcome.per_seed.items()],
        }
        if summary.best is not None and summary.best["candidate_id"] in outcome.means:
            summary.best["selection_mean"] = outcome.means[summary.best["candidate_id"]]
    control = next((t for t in trainings if t.purpose == "control"), None)
    if control is not None:
        summary.control = {"training_id": control.training_id, "candidate_id": control.training_id,
                           "score": control.score, "status": control.status}
        summary.baseline = summary.control
    if run.config.get("prune", "none") != "none":
        cut = [v.training for v in views if v.training is not None and v.training.stopped_at_step is not None]
        summary.pruning = {
            "mode": run.config.get("prune"), "stopped_candidates": len(cut),
            # what the cut candidates would have trained to N_small, and did not
            "saved_candidate_steps": sum(t.total_steps - t.stopped_at_step for t in cut),  # type: ignore[operator]
        }
    comparison = final_comparison(trainings)
    if comparison is not None:
        final = {**comparison.final_dict(), "steps": run.config.get("final_steps")}
        if comparison.seeds_for_detection is not None:
            seeds = comparison.seeds_for_detection
            final["more_seeds_command"] = (f"lesr run --resume {run_id} --seeds {seeds}" if run.kind == "search"
                                           else None)
        summary.final = final
        summary.verdict = comparison.sentence + more_evidence_text(comparison.seeds_for_detection, run_id, run.kind)
    summary.headline = headline(summary.final, summary.best, summary.control)
    return summary


def more_evidence_text(seeds: int | None, run_id: str, kind: str) -> str:
    """What more evidence would take, said as an estimate (statistics.seeds_for_detection)."""
    if seeds is None:
        return ""
    if seeds > MAX_SEEDS_ESTIMATE:
        return (f"; at the observed spread even {MAX_SEEDS_ESTIMATE} paired seeds would not set this difference "
                "apart from 0 (an estimate from the data at hand)")
    how = f" (`lesr run --resume {run_id} --seeds {seeds}` adds them)" if kind == "search" else ""
    return (f"; at the observed spread about {seeds} paired seeds would put this difference outside the t "
            f"interval: an estimate from the data at hand, not a promise{how}")


def _steps(trainings: list[TrainingRecord], purposes: tuple[str, ...]) -> int:
    return sum(t.env_steps for t in trainings if t.purpose in purposes)


def _previous(summary: dict[str, Any] | None, key: str) -> Any:
    return (summary or {}).get(key)
