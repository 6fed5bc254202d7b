"""Which policy to render for a stored run: the best candidate (preferring its final-evaluation policy,
which trained longest), a named candidate, or the raw-state baseline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesr_local.errors import BadInput


@dataclass
class RenderTarget:
    run_id: str
    candidate_id: str
    env_id: str
    env_spec: str | None
    policy_path: Path
    code: str | None  # None = raw-state policy


def resolve_target(store: Any, run_id: str, candidate: str = "best") -> RenderTarget:
    """The policy file and candidate code to render; BadInput naming what is missing. `candidate` is
    "best", a candidate id (its search training's policy) or a training id (e.g. "final-best-s1",
    "control")."""
    run = store.get_run(run_id)
    env_spec = run.config.get("env_spec") if isinstance(run.config, dict) else None
    trainings = store.list_trainings(run_id)
    if candidate == "best":
        if not run.best_candidate_id:
            raise BadInput(f"run {run_id} has no best candidate yet (status {run.status})")
        finals = [t for t in trainings if t.purpose == "final" and t.candidate_id == run.best_candidate_id
                  and t.status == "finished" and t.policy_path and Path(t.policy_path).is_file()]
        search = [t for t in trainings if t.purpose == "search" and t.candidate_id == run.best_candidate_id]
        chosen = (finals or search or [None])[0]
        name = run.best_candidate_id
    else:
        chosen = next((t for t in trainings if t.training_id == candidate), None) or next(
            (t for t in trainings if t.purpose == "search" and t.candidate_id == candidate), None)
        name = candidate
    if chosen is None or not chosen.policy_path or not Path(chosen.policy_path).is_file():
        raise BadInput(f"{name} of run {run_id} has no saved policy to render")
    code = None
    if chosen.candidate_id is not None and chosen.observation == "features":
        code = store.get_candidate(run_id, chosen.candidate_id).code
    return RenderTarget(
        run_id=run_id, candidate_id=chosen.training_id, env_id=run.env_id, env_spec=env_spec,
        policy_path=Path(chosen.policy_path), code=code,
    )
