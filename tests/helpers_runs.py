"""Helpers for tests that build stored runs by hand: a small valid candidate module."""

from __future__ import annotations

from typing import Any

# Valid for the 4-dim InvertedPendulum-v5 state: one extra feature, a reward on it.
PENDULUM_CANDIDATE = """import numpy as np
import math

def revise_state(s):
    f1 = s[1] * s[3]
    return np.concatenate([s, np.array([f1])])

def intrinsic_reward(updated_s):
    return float(-abs(updated_s[4]))
"""


def record_training(store: Any, run_id: str, training_id: str, *, purpose: str, arm: str = "candidate",
                    candidate_id: str | None = None, seed: int = 0, steps: int = 1200, status: str = "finished",
                    score: float | None = None, curve: list[tuple[int, float]] | None = None,
                    lipschitz: list[float] | None = None, dim_names: list[str] | None = None,
                    failure: str | None = None, reason: str | None = None, group_id: str | None = None,
                    algo: str = "td3", shaping: str | None = "additive") -> Any:
    """A training row written through the real store API, as the trainings service writes one."""
    from lesr_local.store import NewTraining

    raw = candidate_id is None
    store.add_training(run_id, NewTraining(
        training_id=training_id, purpose=purpose, arm=arm, candidate_id=candidate_id, seed=seed, total_steps=steps,
        key=f"test-key-{run_id}-{training_id}", lineage=f"test-lineage-{run_id}-{training_id}", algo=algo,
        shaping=None if raw else shaping, intrinsic_weight=0.0 if raw else 0.02, group_id=group_id,
        checkpoint_dir=store.runs_dir / run_id / "checkpoints" / training_id))
    store.mark_training_running(run_id, training_id)
    if status == "finished":
        store.finish_training(run_id, training_id, score=score, curve=curve or [(steps, score or 0.0)],
                              lipschitz=lipschitz, dim_names=dim_names, steps=steps, seconds=1.0,
                              steps_per_s=100.0, policy_path=None)
    elif status in ("failed", "cancelled"):
        store.fail_training(run_id, training_id, reason or "failed", failure=failure or "infrastructure",
                            status=status)
    return store.get_training(run_id, training_id)


def finished_view(cid: str, iteration: int, code: str, score: float, lipschitz: list[float] | None,
                  extra_dims: int = 1) -> Any:
    """A CandidateView of a candidate whose search training finished (records only, no store)."""
    from lesr_local.store import CandidateRecord, CandidateView, TrainingRecord

    candidate = CandidateRecord(run_id="r", candidate_id=cid, iteration=iteration, sample=0, status="accepted",
                                reason=None, code=code, code_path=None, extra_dims=extra_dims, created_at=0.0)
    training = TrainingRecord(
        run_id="r", training_id=cid, purpose="search", arm="candidate", candidate_id=cid, group_id=None, seed=0,
        total_steps=1, algo="td3", shaping="additive", intrinsic_weight=0.02, observation="features", key="k",
        lineage="l", status="finished", failure=None, reason=None, score=score, curve=[], lipschitz=lipschitz,
        dim_names=None, steps_done=1, seconds=1.0, steps_per_s=1.0, policy_path=None, checkpoint_dir=None,
        worker_pid=None, executor=None, node=None, resumed_from=0, rung_step=None, stopped_at_step=None,
        reused_from_run=None, reused_from_training=None, reused_steps=0, walls=None, numerics=None, settings=None,
        created_at=0.0, started_at=0.0, finished_at=1.0)
    return CandidateView(candidate, training)
