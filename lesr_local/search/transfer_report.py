"""A transfer's figures (what `lesr transfer` prints and `lesr show` reports as `transfers`).

The same statistics as the run's final evaluation (`search.statistics.compare`): both arms paired by
seed (a seed that failed in one arm is listed and left out of both), per arm mean, std (ddof=1), IQM
and AUC, the improvement as the difference of means with a paired bootstrap and a Student's t 95%
interval (`improvement_ci95`, `improvement_ci95_t`), a relative figure only where the raw arm's mean
allows one, the verdict label (`verdict_label`: better | worse | no detectable difference, a direction
only when both intervals exclude 0) and the verdict sentence (`verdict`).
"""

from __future__ import annotations

from typing import Any

from lesr_local.search.statistics import SeedResult, compare, curve_auc
from lesr_local.store import Store, TransferRecord

ARMS = ("best", "baseline")


def report(rows: list[TransferRecord]) -> dict[str, Any]:
    """One transfer's figures over the seeds where both arms finished."""
    first = rows[0]
    results: dict[str, dict[int, SeedResult]] = {arm: {} for arm in ARMS}
    failures: dict[int, dict[str, str]] = {}
    per_seed: dict[str, list[dict[str, Any]]] = {}
    for arm in ARMS:
        mine = sorted((r for r in rows if r.arm == arm), key=lambda r: r.seed)
        for r in mine:
            if r.status == "finished" and r.score is not None:
                results[arm][r.seed] = SeedResult(r.seed, r.score, curve_auc(r.curve))
            elif r.status == "failed":
                failures.setdefault(r.seed, {})[arm] = r.reason or "failed"
        per_seed[arm] = [{"seed": r.seed, "score": r.score, "status": r.status, "reason": r.reason,
                          "steps_done": r.steps_done} for r in mine]
    comparison = compare(results["best"], results["baseline"], failures)
    final = comparison.final_dict()
    statuses = {r.status for r in rows}
    status = ("finished" if statuses == {"finished"} else "running" if statuses & {"pending", "running"}
              else "incomplete")
    return {
        "transfer_id": first.transfer_id, "algo": first.algo, "steps": first.total_steps,
        "seeds": sorted({r.seed for r in rows}), "status": status,
        "source_candidate_id": next((r.source_candidate_id for r in rows if r.arm == "best"), None),
        "best": {**final["best"], "per_seed": per_seed["best"]},
        "baseline": {**final["baseline"], "per_seed": per_seed["baseline"]},
        "improvement": final["improvement"], "improvement_relative": final["improvement_relative"],
        "improvement_ci95": final["improvement_ci95"], "improvement_ci95_t": final["improvement_ci95_t"],
        "verdict_label": comparison.verdict, "verdict": comparison.sentence,
        "paired_seeds": len(comparison.paired_seeds), "excluded_seeds": final["excluded_seeds"],
        "env_steps": sum(r.steps_done for r in rows),
        "created_at": min(r.created_at for r in rows),
    }


def transfer_reports(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Every transfer of a run (what `lesr show` reports as `transfers`), oldest first."""
    groups: dict[str, list[TransferRecord]] = {}
    for row in store.list_transfers(run_id):
        groups.setdefault(row.transfer_id, []).append(row)
    return [report(rows) for rows in groups.values()]
