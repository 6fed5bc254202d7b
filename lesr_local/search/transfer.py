"""Transfer (paper §4.5): a run's best F/G and the raw state, trained with SB3's SAC or PPO over paired seeds.

Each training is one `rl.run_training` call through the executor seam (`search.executors`), so the
candidate's code runs only in sandboxed workers. Rows live in the run's `transfers` table, one per
(arm, seed); a rerun of the same transfer (same algo, steps and seeds) continues it: finished rows
are kept and unfinished ones resume from their checkpoints. Seeds are the final evaluation's
(config.seed + 1 .. + S), so transfer and final evaluation are paired with each other too.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesr_local.config import RunConfig
from lesr_local.errors import BadInput
from lesr_local.rl.action_space import require_continuous
from lesr_local.rl.algos import TRANSFER_ALGOS, check_algo
from lesr_local.rl.spec import TrainProgress, TrainResult, TrainSpec
from lesr_local.search.executors import Executor
from lesr_local.search.followups import followup_budget
from lesr_local.search.transfer_report import ARMS, report
from lesr_local.store import Store, TransferRecord

STORE_PROGRESS_S = 0.5  # steps_done is written at most this often per training (plus each evaluation)

ProgressFn = Callable[[str, int, TrainProgress], None]  # (arm, seed, progress)
DoneFn = Callable[[str, int, TrainResult], None]


@dataclass(frozen=True)
class TransferPlan:
    run_id: str
    transfer_id: str
    algo: str
    env_id: str
    steps: int
    seeds: tuple[int, ...]
    source_candidate_id: str
    code: str
    config: RunConfig
    continued: bool  # an unfinished transfer with the same settings is being continued


def plan_transfer(store: Store, run_id: str, algo: str, seeds: int | None = None,
                  steps: int | None = None) -> TransferPlan:
    """Check everything a transfer needs (BadInput, one line, otherwise) and pick its id."""
    check_algo(algo, TRANSFER_ALGOS)
    run = store.get_run(run_id)
    config = RunConfig.from_dict(run.config)
    best = store.find_candidate(run.run_id, run.best_candidate_id) if run.best_candidate_id else None
    if best is None or best.status != "finished" or not best.code:
        raise BadInput(f"run {run.run_id} has no finished best candidate to transfer (status {run.status})")
    seeds_to_train, length = followup_budget(config, seeds, steps)
    require_continuous(algo, run.env_id, config.env_spec)
    seed_list = tuple(seeds_to_train)
    transfer_id, continued = _transfer_id(store.list_transfers(run.run_id), algo, length, seed_list)
    return TransferPlan(run.run_id, transfer_id, algo, run.env_id, length, seed_list, best.candidate_id,
                        best.code, config, continued)


def _transfer_id(rows: list[TransferRecord], algo: str, steps: int, seeds: tuple[int, ...]) -> tuple[str, bool]:
    by_id: dict[str, list[TransferRecord]] = {}
    for row in rows:
        if row.algo == algo:
            by_id.setdefault(row.transfer_id, []).append(row)
    for tid, group in by_id.items():
        same = {r.seed for r in group} == set(seeds) and all(r.total_steps == steps for r in group)
        if same and any(r.status != "finished" for r in group):
            return tid, True
    return f"{algo}-{len(by_id) + 1}", False


def transfer_spec(plan: TransferPlan, arm: str, seed: int, folder: Path, *, device: str = "auto",
                  workers: int = 0) -> TrainSpec:
    config = plan.config
    td3 = dataclasses.replace(config.td3)
    if td3.start_steps >= plan.steps:  # a short transfer still learns after a shortened warm-up
        td3.start_steps = max(1, plan.steps // 5)
    return TrainSpec(
        env_id=plan.env_id, steps=plan.steps, seed=seed,
        candidate_source=plan.code if arm == "best" else None, intrinsic_weight=config.intrinsic_weight,
        td3=td3, eval=dataclasses.replace(config.eval), checkpoint_dir=folder / f"{arm}-s{seed}",
        checkpoint_every=max(1000, plan.steps // 10), device=device, env_spec=config.env_spec,
        policy_path=folder / f"{arm}-s{seed}.safetensors", workers=workers, algo=plan.algo,
        unsafe_no_seccomp=config.unsafe_no_seccomp,
    )


def run_transfer(store: Store, plan: TransferPlan, executor: Executor, *, device: str = "auto",
                 on_progress: ProgressFn | None = None, on_done: DoneFn | None = None,
                 cancel: threading.Event | None = None) -> dict[str, Any]:
    """Train every unfinished (arm, seed) of the plan; returns the transfer's report (see `report`)."""
    folder = store.ensure_run_dir(plan.run_id) / "transfers" / plan.transfer_id
    jobs = []
    for seed in plan.seeds:
        for arm in ARMS:
            spec = transfer_spec(plan, arm, seed, folder, device=device, workers=executor.workers)
            store.add_transfer_row(plan.run_id, plan.transfer_id, algo=plan.algo, arm=arm, seed=seed,
                                   total_steps=plan.steps, checkpoint_dir=str(spec.checkpoint_dir),
                                   source_candidate_id=plan.source_candidate_id if arm == "best" else None)
            jobs.append((arm, seed, spec))
    finished = {(r.arm, r.seed) for r in store.list_transfers(plan.run_id)
                if r.transfer_id == plan.transfer_id and r.status == "finished"}
    futures = []
    for arm, seed, spec in jobs:
        if (arm, seed) in finished:
            continue
        tracker = _Tracker(store, plan, arm, seed, on_progress)
        future = executor.submit(spec, tracker, cancel, on_start=tracker.started)
        futures.append((arm, seed, future))
    for arm, seed, future in futures:
        result = future.result()
        if result.status == "finished":
            store.finish_transfer_row(plan.run_id, plan.transfer_id, arm, seed, score=result.score,
                                      curve=result.curve, steps=result.steps, seconds=result.seconds,
                                      steps_per_s=result.steps_per_s, policy_path=result.policy_path)
        else:
            store.fail_transfer_row(plan.run_id, plan.transfer_id, arm, seed, result.reason or result.status,
                                    status="cancelled" if result.status == "cancelled" else "failed")
        if on_done is not None:
            on_done(arm, seed, result)
    rows = [r for r in store.list_transfers(plan.run_id) if r.transfer_id == plan.transfer_id]
    return report(rows)


class _Tracker:
    """A training's progress: to the caller, and (throttled) into its transfers row."""

    def __init__(self, store: Store, plan: TransferPlan, arm: str, seed: int,
                 on_progress: ProgressFn | None) -> None:
        self.store, self.plan, self.arm, self.seed = store, plan, arm, seed
        self.on_progress = on_progress
        self.curve: list[tuple[int, float]] = []
        self.next_write = 0.0

    def started(self) -> None:
        self.store.mark_transfer_running(self.plan.run_id, self.plan.transfer_id, self.arm, self.seed)

    def __call__(self, progress: TrainProgress) -> None:
        now = time.monotonic()
        if progress.evaluation is not None:
            self.curve.append(progress.evaluation)
        if progress.evaluation is not None or now >= self.next_write:
            self.next_write = now + STORE_PROGRESS_S
            self.store.update_transfer_progress(self.plan.run_id, self.plan.transfer_id, self.arm, self.seed,
                                                progress.step, self.curve if progress.evaluation else None)
        if self.on_progress is not None:
            self.on_progress(self.arm, self.seed, progress)

