"""Run pictures: the evaluation axis is labelled by the env's own metric."""

from __future__ import annotations

import time
from typing import Any

from lesr_local.plots import metric_label
from lesr_local.store import RunRecord


def _run(env_id: str, config: dict[str, Any] | None = None) -> RunRecord:
    now = time.time()
    return RunRecord(run_id="r-1", env_id=env_id, preset="smoke", status="finished", created=now, updated=now,
                     finished_at=now, config=config or {"env_id": env_id}, reason=None, summary={},
                     best_candidate_id=None, best_score=None, baseline_score=None, owner_pid=None)


def test_goal_tasks_are_labelled_success_rate_and_others_return() -> None:
    # Neither the run's config nor its summary carries a metric: it comes from the env.
    assert metric_label(_run("FetchPushDense-v4")) == "success rate"
    assert metric_label(_run("AntMaze_OpenDense-v5")) == "success rate"
    assert metric_label(_run("Hopper-v5")) == "evaluation return"


def test_an_env_that_cannot_be_described_falls_back_to_return(tmp_path: Any) -> None:
    run = _run("Custom-v0", {"env_id": "Custom-v0", "env_spec": str(tmp_path / "missing.toml")})
    assert metric_label(run) == "evaluation return"
