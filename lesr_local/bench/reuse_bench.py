"""`lesr bench reuse`: what reuse saves when a user compares two models on one env.

In one fresh home: a run with the bundled default model, then the same env, preset and `--seed` with a
second model (SmolLM2-135M-Instruct by default, installed by `make setup`), then `lesr ablate` of the
second run. Per step: trained and reused env steps and wall time. The ablation's figure is compared
with what it trained before trainings were records (every distinct variant setting on every seed).
Then one reused training of each kind (the search control, the re-evaluation's raw arm, the final
evaluation's raw arm, an ablation arm taken from the final evaluation) is trained again with reuse off
in a scratch run: its score and curve must equal the reused ones (trainings are deterministic per
seed on one machine; trainings/keys.py).

Goals (issue 21): the second run trains at most 65 % of the first's env steps, the ablation at most
60 % of what it trained before, and every check is equal.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from lesr_local.config import RunConfig, preset, with_overrides
from lesr_local.envs.catalogue import get_env_info
from lesr_local.errors import BadInput
from lesr_local.experiments.ablation import (
    DEFAULT_VARIANTS,
    parse_variants,
    plan_ablation,
    run_ablation,
    variant_request,
    variant_settings,
)
from lesr_local.search.engine import SearchEngine
from lesr_local.search.reporter import HeadlessReporter
from lesr_local.store import Store, TrainingRecord
from lesr_local.trainings.executors import LocalProcessExecutor, default_workers
from lesr_local.trainings.requests import arm_request, control_request, selection_seeds
from lesr_local.trainings.service import TrainingRequest, Trainings

SECOND_MODEL = "SmolLM2-135M-Instruct.Q4_1"
GOAL_SECOND_RUN = 0.65
GOAL_ABLATION = 0.60


def bench_reuse(env_id: str, preset_name: str, seed: int, models: list[str | None], home: Path | None,
                check: bool = True, quiet: bool = False) -> dict[str, Any]:
    folder = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="lesr-bench-reuse-"))
    if (folder / "lesr.sqlite3").exists():
        with Store(folder) as store:
            if store.list_runs():
                raise BadInput(f"lesr bench reuse needs a fresh home; {folder} already holds runs")
    reporter = HeadlessReporter() if not quiet else (lambda event: None)
    payload: dict[str, Any] = {"env_id": env_id, "preset": preset_name, "seed": seed, "home": str(folder), "runs": []}
    with Store(folder) as store:
        run_ids = []
        for model in models:
            config = with_overrides(preset(preset_name), env_id=env_id, seed=seed, **{"llm.model": model})
            started = time.monotonic()
            summary = SearchEngine(store, reporter).start(config).to_dict()
            run_ids.append(summary["run_id"])
            payload["runs"].append({
                "model": model or "default", "run_id": summary["run_id"], "status": summary["status"],
                "wall_seconds": round(time.monotonic() - started, 1), "total_env_steps": summary["total_env_steps"],
                "trained_env_steps": summary["trained_env_steps"], "reused_env_steps": summary["reused_env_steps"],
                "verdict": summary.get("verdict"),
            })
        first, second = payload["runs"][0], payload["runs"][-1]
        payload["second_run_trains_fraction"] = round(second["trained_env_steps"] / max(first["trained_env_steps"], 1), 3)
        payload["ablation"] = _ablation(store, run_ids[-1])
        if check:
            payload["checks"] = _checks(store, run_ids, payload["ablation"]["run_id"])
    goals = {
        "second_run_trains_at_most": GOAL_SECOND_RUN, "ablation_trains_at_most": GOAL_ABLATION,
        "second_run_ok": payload["second_run_trains_fraction"] <= GOAL_SECOND_RUN,
        "ablation_ok": payload["ablation"]["trains_fraction_of_before"] <= GOAL_ABLATION,
    }
    if check:
        goals["reused_equals_fresh"] = all(c["equal"] for c in payload["checks"])
    payload["goals"] = goals
    return payload


def _ablation(store: Store, run_id: str) -> dict[str, Any]:
    plan = plan_ablation(store, run_id, parse_variants(None), None, None)
    executor = LocalProcessExecutor(plan.config.workers or default_workers())
    started = time.monotonic()
    try:
        run_ablation(store, plan, executor, threading.Event())
    finally:
        executor.close()
    rows = [t for t in store.list_trainings(run_id, purpose="ablation") if t.group_id == plan.group_id]
    # before trainings were records, `lesr ablate` trained every distinct variant setting on every seed
    distinct = {(s.uses_code, s.weight, s.shaping if s.weight else None, s.observation)
                for s in (variant_settings(v, plan.config) for v in DEFAULT_VARIANTS)}
    before = len(distinct) * len(plan.seeds) * plan.steps
    trained = sum(t.trained_steps for t in rows)
    return {"run_id": run_id, "wall_seconds": round(time.monotonic() - started, 1), "trained_env_steps": trained,
            "reused_env_steps": sum(t.reused_steps for t in rows), "trained_before": before,
            "trains_fraction_of_before": round(trained / max(before, 1), 3)}


def _checks(store: Store, run_ids: list[str], ablated: str) -> list[dict[str, Any]]:
    """Train one reused training of each kind again, reuse off, and compare."""
    run = store.get_run(run_ids[-1])
    config = RunConfig.from_dict(run.config)
    env = get_env_info(config.env_id, config.env_spec)
    trainings = {t.training_id: t for t in store.list_trainings(run.run_id)}
    ablation = [t for t in store.list_trainings(ablated, purpose="ablation") if t.reused_from_training]
    wanted: list[tuple[str, TrainingRecord | None, TrainingRequest]] = []
    control = next((t for t in trainings.values() if t.purpose == "control"), None)
    wanted.append(("control", control, control_request(config, env)))
    selection = next((t for t in trainings.values() if t.purpose == "selection" and t.is_raw), None)
    if selection is not None:
        seed = selection_seeds(config)[0]
        wanted.append(("selection raw", selection, arm_request(config, env, "selection", seed, config.steps, None,
                                                              None)))
    final = next((t for t in trainings.values() if t.purpose == "final" and t.is_raw), None)
    if final is not None:
        wanted.append(("final raw", final, arm_request(config, env, "final", final.seed, config.final_steps,
                                                      None, None)))
    if ablation:
        plan = plan_ablation(store, ablated, parse_variants(None), None, None)
        row = next((t for t in ablation if t.arm == "full"), ablation[0])
        wanted.append((f"ablation {row.arm}", row, variant_request(plan, row.arm, row.seed)))
    scratch = "bench-reuse-check"
    store.create_run(scratch, config.env_id, config.preset, config.to_dict(), kind="evaluation")
    executor = LocalProcessExecutor(min(len(wanted), config.workers or default_workers()))
    out = []
    try:
        service = Trainings(store, scratch, executor, lambda event: None, threading.Event(), reuse=False)
        jobs = [(kind, record, service.ask(request)) for kind, record, request in wanted if record is not None]
        service.wait([job for _, _, job in jobs])
        for kind, record, job in jobs:
            fresh = store.get_training(scratch, job.training_id)
            assert record is not None
            out.append({"kind": kind, "training": f"{record.run_id}/{record.training_id}",
                        "reused_from": f"{record.reused_from_run}/{record.reused_from_training}",
                        "reused_score": record.score, "fresh_score": fresh.score,
                        "equal": record.score == fresh.score and record.curve == fresh.curve})
    finally:
        executor.close()
        store.end_run(scratch, "finished", "bench reuse: fresh trainings of reused keys", {}, None, None, None)
    return out


def default_models() -> list[str | None]:
    return [None, SECOND_MODEL]
