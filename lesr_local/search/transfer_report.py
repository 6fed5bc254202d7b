"""A transfer's figures (what `lesr transfer` prints and `lesr show` reports as `transfers`).

Per arm: per-seed scores and mean ± std; the improvement of the best F/G over the raw state with a
paired bootstrap 95% interval. The bootstrap is a small local helper: the search statistics (issue
16) are written concurrently elsewhere and the two are meant to be unified. Seeds are paired (both
arms train with the same seed), so the bootstrap resamples seed indices and keeps pairs together.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from lesr_local.search.summary import ArmResult, improvement
from lesr_local.store import Store, TransferRecord

ARMS = ("best", "baseline")
RESAMPLES = 10_000


def paired_bootstrap_ci(treated: list[float], control: list[float], *, level: float = 0.95,
                        resamples: int = RESAMPLES, seed: int = 0) -> list[float] | None:
    """Percentile interval of (mean(treated) - mean(control)) / |mean(control)| over resampled
    seed pairs; None with fewer than two pairs (no spread to resample) or when every resample has a
    zero control mean."""
    if len(treated) != len(control):
        raise ValueError("paired samples must have the same length")
    if len(treated) < 2:
        return None
    a, b = np.asarray(treated, dtype=np.float64), np.asarray(control, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(resamples, len(a)))
    base = b[idx].mean(axis=1)
    usable = base != 0
    if not usable.any():
        return None
    rel = (a[idx].mean(axis=1)[usable] - base[usable]) / np.abs(base[usable])
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(rel, [tail, 100 - tail])
    return [float(low), float(high)]


def report(rows: list[TransferRecord]) -> dict[str, Any]:
    """One transfer's figures: per-seed scores, mean ± std per arm, improvement with a paired
    bootstrap 95% interval over the seeds where both arms finished."""
    first = rows[0]
    arms: dict[str, Any] = {}
    scores: dict[str, dict[int, float]] = {}
    for arm in ARMS:
        mine = sorted((r for r in rows if r.arm == arm), key=lambda r: r.seed)
        scores[arm] = {r.seed: r.score for r in mine if r.status == "finished" and r.score is not None}
        arms[arm] = {**dataclasses.asdict(ArmResult.of(list(scores[arm].values()))),
                     "per_seed": [{"seed": r.seed, "score": r.score, "status": r.status, "reason": r.reason,
                                   "steps_done": r.steps_done} for r in mine]}
    paired = sorted(set(scores["best"]) & set(scores["baseline"]))
    statuses = {r.status for r in rows}
    status = ("finished" if statuses == {"finished"} else "running" if statuses & {"pending", "running"}
              else "incomplete")
    return {
        "transfer_id": first.transfer_id, "algo": first.algo, "steps": first.total_steps,
        "seeds": sorted({r.seed for r in rows}), "status": status,
        "source_candidate_id": next((r.source_candidate_id for r in rows if r.arm == "best"), None),
        "best": arms["best"], "baseline": arms["baseline"],
        "improvement": improvement(arms["best"]["mean"], arms["baseline"]["mean"]),
        "improvement_ci95": paired_bootstrap_ci([scores["best"][s] for s in paired],
                                                [scores["baseline"][s] for s in paired]),
        "paired_seeds": len(paired),
        "env_steps": sum(r.steps_done for r in rows),
        "created_at": min(r.created_at for r in rows),
    }


def transfer_reports(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Every transfer of a run (what `lesr show` reports as `transfers`), oldest first."""
    groups: dict[str, list[TransferRecord]] = {}
    for row in store.list_transfers(run_id):
        groups.setdefault(row.transfer_id, []).append(row)
    return [report(rows) for rows in groups.values()]
