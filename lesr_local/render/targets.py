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
    """The policy file and candidate code to render; BadInput naming what is missing."""
    run = store.get_run(run_id)
    env_spec = run.config.get("env_spec") if isinstance(run.config, dict) else None
    if candidate == "best":
        if not run.best_candidate_id:
            raise BadInput(f"run {run_id} has no best candidate yet (status {run.status})")
        finals = [
            c for c in store.list_candidates(run_id, kind="final-best")
            if c.status == "finished" and c.policy_path and Path(c.policy_path).is_file()
        ]
        chosen = finals[0] if finals else store.get_candidate(run_id, run.best_candidate_id)
        code = chosen.code
        if code is None and chosen.source_candidate_id:
            code = store.get_candidate(run_id, chosen.source_candidate_id).code
    else:
        chosen = store.get_candidate(run_id, candidate)
        code = chosen.code
        if code is None and chosen.source_candidate_id:
            code = store.get_candidate(run_id, chosen.source_candidate_id).code
    if not chosen.policy_path or not Path(chosen.policy_path).is_file():
        raise BadInput(f"candidate {chosen.candidate_id} of run {run_id} has no saved policy to render")
    if chosen.kind in ("baseline", "selection-baseline", "final-baseline"):
        code = None
    return RenderTarget(
        run_id=run_id, candidate_id=chosen.candidate_id, env_id=run.env_id, env_spec=env_spec,
        policy_path=Path(chosen.policy_path), code=code,
    )
