"""Transfer (paper §4.5): a run's best F/G and the raw state, trained with SB3's SAC or PPO over paired seeds.

The best arm trains on the run's own reward: its shaping (additive or potential) and weight, stored
with every training and shown in the report. Each training is asked for through
`trainings.service.Trainings`, so the candidate's code runs only in sandboxed workers and identical
trainings are reused (the raw arm of an earlier transfer with the same algorithm, seeds and steps).
A rerun of the same transfer (same algo, steps and seeds) continues it: finished trainings are kept,
unfinished ones resume from their checkpoints. Seeds are the final evaluation's
(config.seed + 1 .. + S), so transfer and final evaluation are paired with each other too.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lesr_local import events as ev
from lesr_local.config import RunConfig
from lesr_local.envs.catalogue import get_env_info
from lesr_local.errors import BadInput
from lesr_local.experiments.budgets import followup_budget
from lesr_local.experiments.transfer_report import report
from lesr_local.rl.action_space import require_continuous
from lesr_local.rl.algos import TRANSFER_ALGOS, check_algo
from lesr_local.rl.spec import TrainProgress, TrainSpec
from lesr_local.store import CANDIDATE_ARM, RAW_ARM, Store, TrainingRecord
from lesr_local.trainings.executors import Executor
from lesr_local.trainings.requests import dim_names, spec_for
from lesr_local.trainings.service import TrainingRequest, Trainings

ARMS = (CANDIDATE_ARM, RAW_ARM)
ProgressFn = Callable[[str, int, TrainProgress], None]  # (arm, seed, progress)
DoneFn = Callable[[str, int, TrainingRecord], None]


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
    extra_dims: int | None
    config: RunConfig
    continued: bool  # an unfinished transfer with the same settings is being continued

    @property
    def shaping(self) -> str:
        return self.config.shaping


def plan_transfer(store: Store, run_id: str, algo: str, seeds: int | None = None,
                  steps: int | None = None) -> TransferPlan:
    """Check everything a transfer needs (BadInput, one line, otherwise) and pick its id."""
    check_algo(algo, TRANSFER_ALGOS)
    run = store.get_run(run_id)
    config = RunConfig.from_dict(run.config)
    best = store.find_candidate(run.run_id, run.best_candidate_id) if run.best_candidate_id else None
    if best is None or not best.code:
        raise BadInput(f"run {run.run_id} has no finished best candidate to transfer (status {run.status})")
    seeds_to_train, length = followup_budget(config, seeds, steps, algo)
    require_continuous(algo, run.env_id, config.env_spec)
    seed_list = tuple(seeds_to_train)
    transfer_id, continued = _transfer_id(store.list_trainings(run.run_id, purpose="transfer"), algo, length,
                                          seed_list)
    return TransferPlan(run.run_id, transfer_id, algo, run.env_id, length, seed_list, best.candidate_id,
                        best.code, best.extra_dims, config, continued)


def _transfer_id(rows: list[TrainingRecord], algo: str, steps: int, seeds: tuple[int, ...]) -> tuple[str, bool]:
    by_id: dict[str, list[TrainingRecord]] = {}
    for row in rows:
        if row.algo == algo and row.group_id:
            by_id.setdefault(row.group_id, []).append(row)
    for tid, group in by_id.items():
        same = {r.seed for r in group} == set(seeds) and all(r.total_steps == steps for r in group)
        if same and any(r.status != "finished" for r in group):
            return tid, True
    return f"{algo}-{len(by_id) + 1}", False


def transfer_spec(plan: TransferPlan, arm: str, seed: int, *, device: str = "auto") -> TrainSpec:
    spec = spec_for(plan.config, code=plan.code if arm == CANDIDATE_ARM else None, seed=seed, steps=plan.steps,
                    algo=plan.algo, device=device)
    # the run's own warm-up: plan_transfer refused steps inside it (experiments/budgets.py)
    return dataclasses.replace(spec, learner=dataclasses.replace(plan.config.td3), eval=dataclasses.replace(plan.config.eval),
                               checkpoint_every=max(1000, plan.steps // 10))


def transfer_request(plan: TransferPlan, arm: str, seed: int, device: str = "auto") -> TrainingRequest:
    env = get_env_info(plan.env_id, plan.config.env_spec)
    code = plan.code if arm == CANDIDATE_ARM else None
    old_arm = "best" if arm == CANDIDATE_ARM else "baseline"  # the names v1 stores gave these trainings
    return TrainingRequest(f"transfer-{plan.transfer_id}-{old_arm}-s{seed}", "transfer", arm,
                           transfer_spec(plan, arm, seed, device=device),
                           candidate_id=plan.source_candidate_id if code else None, group_id=plan.transfer_id,
                           dim_names=dim_names(env, code, plan.extra_dims or 0 if code else 0))


def run_transfer(store: Store, plan: TransferPlan, executor: Executor, *, device: str = "auto",
                 on_progress: ProgressFn | None = None, on_done: DoneFn | None = None,
                 cancel: threading.Event | None = None, reuse: bool = True) -> dict[str, Any]:
    """Ask for every (arm, seed) of the plan; returns the transfer's report (see `report`)."""
    requests = {r.training_id: (arm, seed, r) for seed in plan.seeds for arm in ARMS
                if (r := transfer_request(plan, arm, seed, device))}
    halt = cancel or threading.Event()
    sink = _Relay(store, plan.run_id, requests, on_progress, on_done)
    trainings = Trainings(store, plan.run_id, executor, sink, halt, reuse=reuse)
    jobs = [trainings.ask(request) for _, _, request in requests.values()]
    for job in jobs:  # already finished ones (kept from an earlier run of the command) report too
        if job.recorded.is_set() and on_done is not None:
            arm, seed, _ = requests[job.training_id]
            on_done(arm, seed, store.get_training(plan.run_id, job.training_id))
    trainings.wait(jobs)
    rows = [r for r in store.list_trainings(plan.run_id, purpose="transfer") if r.group_id == plan.transfer_id]
    return report(rows)


class _Relay:
    """The trainings' events as the callbacks `lesr transfer` and the TUI's transfer panel take."""

    def __init__(self, store: Store, run_id: str, requests: dict[str, tuple[str, int, TrainingRequest]],
                 on_progress: ProgressFn | None, on_done: DoneFn | None) -> None:
        self.store, self.run_id, self.requests = store, run_id, requests
        self.on_progress, self.on_done = on_progress, on_done

    def __call__(self, event: ev.Event) -> None:
        tid = getattr(event, "training_id", None)
        if tid not in self.requests:
            return
        arm, seed, _ = self.requests[tid]
        if isinstance(event, ev.TrainingProgress) and self.on_progress is not None:
            self.on_progress(arm, seed, TrainProgress(event.step, event.total_steps, event.steps_per_s,
                                                      event.last_episode_return, None))
        elif isinstance(event, ev.TrainingFinished) and self.on_done is not None:
            self.on_done(arm, seed, self.store.get_training(self.run_id, tid))
