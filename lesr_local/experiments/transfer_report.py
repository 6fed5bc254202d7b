"""A transfer's figures (what `lesr transfer` prints and `lesr show` reports as `transfers`).

The same statistics as the run's final evaluation (`experiments.statistics.compare`): both arms paired
by seed (a seed that failed outside the candidate in one arm is listed and left out of both; one the
candidate's own code failed counts against it), per arm mean, std (ddof=1), IQM and AUC, the
improvement as the difference of means with a paired bootstrap and a Student's t 95% interval, a
relative figure only where the raw arm's mean allows one, and a one-sentence verdict.
"""

from __future__ import annotations

from typing import Any

from lesr_local.experiments.statistics import SeedResult, compare, curve_auc
from lesr_local.store import CANDIDATE_ARM, CANDIDATE_FAILURE, RAW_ARM, Store, TrainingRecord


def report(rows: list[TrainingRecord]) -> dict[str, Any]:
    """One transfer's figures over the seeds where both arms finished."""
    first = rows[0]
    results: dict[str, dict[int, SeedResult]] = {CANDIDATE_ARM: {}, RAW_ARM: {}}
    missing: dict[int, dict[str, str]] = {}
    candidate_failed: dict[int, str] = {}
    per_seed: dict[str, list[dict[str, Any]]] = {}
    for arm in (CANDIDATE_ARM, RAW_ARM):
        mine = sorted((r for r in rows if r.arm == arm), key=lambda r: r.seed)
        for r in mine:
            if r.status == "finished" and r.score is not None:
                results[arm][r.seed] = SeedResult(r.seed, r.score, curve_auc(r.curve))
            elif r.status == "failed" and arm == CANDIDATE_ARM and r.failure == CANDIDATE_FAILURE:
                candidate_failed[r.seed] = r.reason or "failed"
            elif r.status == "failed":
                missing.setdefault(r.seed, {})["best" if arm == CANDIDATE_ARM else "baseline"] = r.reason or "failed"
        per_seed[arm] = [{"seed": r.seed, "score": r.score, "status": r.status, "reason": r.reason,
                          "steps_done": r.env_steps, "reused_from": r.reused_from_training and
                          f"{r.reused_from_run}/{r.reused_from_training}"} for r in mine]
    comparison = compare(results[CANDIDATE_ARM], results[RAW_ARM], missing, candidate_failed)
    final = comparison.final_dict()
    statuses = {r.status for r in rows}
    status = ("finished" if statuses == {"finished"} else "running" if statuses & {"pending", "running"}
              else "incomplete")
    raw = {**final["raw"], "per_seed": per_seed[RAW_ARM]}
    return {
        "transfer_id": first.group_id, "algo": first.algo, "steps": first.total_steps,
        "seeds": sorted({r.seed for r in rows}), "status": status,
        "shaping": next((r.shaping for r in rows if r.arm == CANDIDATE_ARM), None),
        "intrinsic_weight": next((r.intrinsic_weight for r in rows if r.arm == CANDIDATE_ARM), None),
        "source_candidate_id": next((r.candidate_id for r in rows if r.arm == CANDIDATE_ARM), None),
        "best": {**final["best"], "per_seed": per_seed[CANDIDATE_ARM]}, "raw": raw, "baseline": raw,
        "improvement": final["improvement"], "improvement_relative": final["improvement_relative"],
        "improvement_ci95": final["improvement_ci95"], "improvement_ci95_t": final["improvement_ci95_t"],
        "verdict_label": comparison.verdict, "verdict": comparison.sentence,
        "paired_seeds": len(comparison.paired_seeds), "excluded_seeds": final["excluded_seeds"],
        "candidate_failed_seeds": final["candidate_failed_seeds"],
        "env_steps": sum(r.env_steps for r in rows), "reused_env_steps": sum(r.reused_steps for r in rows),
        "created_at": min(r.created_at for r in rows),
    }


def transfer_reports(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Every transfer of a run (what `lesr show` reports as `transfers`), oldest first."""
    groups: dict[str, list[TrainingRecord]] = {}
    for row in store.list_trainings(run_id, purpose="transfer"):
        groups.setdefault(row.group_id or "?", []).append(row)
    return [report(rows) for rows in groups.values()]
