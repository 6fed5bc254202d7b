"""Plain records the store hands out (read-only snapshots of rows; JSON-friendly via `to_dict`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

RUN_STATUSES = ("running", "finished", "failed", "interrupted")
RUN_KINDS = ("search", "evaluation")
CANDIDATE_STATUSES = ("accepted", "rejected")
TRAINING_STATUSES = ("pending", "running", "finished", "failed", "cancelled")
# What a training is for, in the order a run makes them. "control" is the search's raw-state
# training (the summary's `baseline`, kept as that key for scripts); "final" holds both arms of the
# final evaluation (arm "candidate" = the best, arm "raw" = the raw-state arm, `final.baseline`).
PURPOSES = ("search", "control", "selection", "final", "ablation", "transfer")
CANDIDATE_ARM = "candidate"
RAW_ARM = "raw"
# Why a training failed: its candidate broke a rule or raised (an outcome of the candidate), or the
# machinery around it broke (a killed worker, a lost node): missing data, not an outcome.
CANDIDATE_FAILURE = "candidate"
INFRASTRUCTURE_FAILURE = "infrastructure"

Curve = list[tuple[int, float]]


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
    baseline_score: float | None  # the search control's score
    owner_pid: int | None  # process that last drove the run
    kind: str = "search"  # search (lesr run) | evaluation (lesr evaluate)
    owner_started: float | None = None

    @property
    def control_score(self) -> float | None:
        return self.baseline_score

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
    prompt: str | None = None  # the prompt its samples were asked with (None: stores from before)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CandidateRecord:
    """What the LLM produced (or a user handed in): code and the check's verdict. Its trainings,
    the search one included, are TrainingRecords."""

    run_id: str
    candidate_id: str  # "i{it}-k{k}" for the search's samples
    iteration: int | None
    sample: int | None
    status: str  # accepted | rejected
    reason: str | None  # the rejection reason
    code: str
    code_path: str | None  # the module file in the run folder
    extra_dims: int | None
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainingRecord:
    """One training: what it trained, why, on which seed and budget, and what came of it."""

    run_id: str
    training_id: str
    purpose: str  # search | control | selection | final | ablation | transfer
    arm: str  # candidate | raw | an ablation variant
    candidate_id: str | None  # None: the raw state
    group_id: str | None  # ablation set "<candidate>-n<steps>" or transfer id "sac-1"
    seed: int
    total_steps: int
    algo: str
    shaping: str | None
    intrinsic_weight: float
    observation: str
    key: str
    lineage: str
    status: str  # pending | running | finished | failed | cancelled
    failure: str | None  # candidate | infrastructure (failed trainings)
    reason: str | None
    score: float | None
    curve: Curve
    lipschitz: list[float] | None
    dim_names: list[str] | None  # one name per entry of `lipschitz`
    steps_done: int
    seconds: float | None
    steps_per_s: float | None
    policy_path: str | None  # absolute (the store keeps it relative to the home)
    checkpoint_dir: str | None
    worker_pid: int | None
    executor: str | None  # "local" | "ray"
    node: str | None  # Ray node id, or the host name of a local training
    resumed_from: int | None  # the own checkpoint step it continued from (0 = from the start)
    rung_step: int | None  # successive halving: the last rung step it paused at
    stopped_at_step: int | None  # successive halving cut it here; its score is the rung score
    reused_from_run: str | None  # reuse: the run and training whose result (or prefix) it took
    reused_from_training: str | None
    reused_steps: int  # env steps taken from that training instead of trained here
    walls: list[str] | None
    numerics: str | None
    settings: dict[str, Any] | None
    created_at: float
    started_at: float | None
    finished_at: float | None

    @property
    def is_raw(self) -> bool:
        return self.candidate_id is None

    @property
    def env_steps(self) -> int:
        """Env steps behind this training's numbers: the full length once finished (or the rung it
        was cut at), else what it reached."""
        if self.stopped_at_step is not None:
            return self.stopped_at_step
        return self.total_steps if self.status == "finished" else self.steps_done

    @property
    def trained_steps(self) -> int:
        """The part of `env_steps` trained for this record (the rest was reused)."""
        return max(0, self.env_steps - self.reused_steps)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["curve"] = [list(point) for point in self.curve]
        return data


@dataclass(frozen=True)
class CandidateView:
    """A candidate with its search training: what the LLM's feedback, `lesr show` and the UI list."""

    candidate: CandidateRecord
    training: TrainingRecord | None  # None: rejected, or not trained yet

    @property
    def candidate_id(self) -> str:
        return self.candidate.candidate_id

    @property
    def iteration(self) -> int | None:
        return self.candidate.iteration

    @property
    def code(self) -> str:
        return self.candidate.code

    @property
    def extra_dims(self) -> int | None:
        return self.candidate.extra_dims

    @property
    def status(self) -> str:
        """pending | running | finished | failed | rejected (the v1 candidate status)."""
        if self.candidate.status == "rejected":
            return "rejected"
        if self.training is None:
            return "pending"
        return "failed" if self.training.status == "cancelled" else self.training.status

    @property
    def reason(self) -> str | None:
        return self.candidate.reason if self.training is None else self.training.reason

    @property
    def score(self) -> float | None:
        return None if self.training is None else self.training.score

    @property
    def stopped_at_step(self) -> int | None:
        return None if self.training is None else self.training.stopped_at_step


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
