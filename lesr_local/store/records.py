"""Plain records the store hands out (read-only snapshots of rows; JSON-friendly via `to_dict`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

RUN_STATUSES = ("running", "finished", "failed", "interrupted")
CANDIDATE_STATUSES = ("pending", "running", "finished", "failed", "rejected")
CANDIDATE_KINDS = ("search", "baseline", "selection", "selection-baseline", "final-best", "final-baseline")


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    env_id: str
    preset: str
    status: str  # running | finished | failed | interrupted
    created: float  # unix seconds
    updated: float
    finished_at: float | None
    config: dict[str, Any]
    reason: str | None
    summary: dict[str, Any] | None  # the JSON summary once the run ended (see search.summary)
    best_candidate_id: str | None
    best_score: float | None
    baseline_score: float | None
    owner_pid: int | None  # process that last drove the run

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class IterationRecord:
    run_id: str
    iteration: int
    status: str  # running | finished
    analysis: str | None  # the LLM's reasoning turn on this iteration's results
    dropped: list[str]  # candidate ids left out of the next prompt to fit the context
    started_at: float
    finished_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CandidateRecord:
    run_id: str
    candidate_id: str  # "i{it}-k{k}", "baseline", "final-best-s{seed}", "final-baseline-s{seed}"
    kind: str  # search | baseline | selection | selection-baseline | final-best | final-baseline
    iteration: int | None
    sample: int | None
    seed: int
    status: str  # pending | running | finished | failed | rejected
    reason: str | None
    code: str | None  # source of revise_state + intrinsic_reward (None for the raw-state baseline)
    code_path: str | None  # the module file in the run folder
    source_candidate_id: str | None  # for final-best-*: the search candidate it re-trains
    extra_dims: int | None
    score: float | None
    lipschitz: list[float] | None
    dim_names: list[str] | None  # one name per entry of `lipschitz`
    curve: list[tuple[int, float]]  # (env step, evaluation value)
    total_steps: int
    steps_done: int
    seconds: float | None
    steps_per_s: float | None
    policy_path: str | None
    checkpoint_dir: str | None
    worker_pid: int | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    rung_step: int | None = None  # successive halving: the last rung step the training paused at
    stopped_at_step: int | None = None  # successive halving cut it here; its score is the rung score
    executor: str | None = None  # "local" | "ray" (None: not started yet, or a store from before)
    node: str | None = None  # Ray node id, or the host name of a local training
    resumed_from: int | None = None  # finished trainings: the checkpoint step they continued from (0 = none)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["curve"] = [list(point) for point in self.curve]
        return data


@dataclass(frozen=True)
class LLMCallRecord:
    id: int
    run_id: str
    call_key: str  # stable key of the exchange within the run, e.g. "i0-k1-a0", "analysis-i0"
    purpose: str  # candidate | repair | analysis
    iteration: int
    sample: int
    attempt: int
    prompt: str
    reply: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str
    parsed: dict[str, Any] | None  # the engine's reading of the reply (extracted code, verdict)
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AblationRecord:
    """One training of `lesr ablate`: a variant of the run's best candidate on one seed."""

    run_id: str
    candidate_id: str  # the search candidate ablated
    steps: int
    variant: str  # full | features_only | reward_only | potential | raw
    seed: int
    status: str  # pending | running | finished | failed
    shaping: str | None
    score: float | None
    auc: float | None
    curve: list[tuple[int, float]]
    reason: str | None
    seconds: float | None
    created_at: float
    finished_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TransferRecord:
    """One training of a transfer: `arm` "best" (the run's best F/G) or "baseline" (raw state)."""

    run_id: str
    transfer_id: str  # "<algo>-<n>": one `lesr transfer` invocation (continued by a rerun)
    algo: str
    arm: str
    seed: int
    status: str  # pending | running | finished | failed | cancelled
    reason: str | None
    source_candidate_id: str | None
    score: float | None
    curve: list[tuple[int, float]]
    total_steps: int
    steps_done: int
    seconds: float | None
    steps_per_s: float | None
    policy_path: str | None
    checkpoint_dir: str | None
    created_at: float
    finished_at: float | None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["curve"] = [list(p) for p in self.curve]
        return data
