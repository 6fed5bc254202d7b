"""Typed events emitted by the search engine and the trainings it asks for.

The engine and `trainings.service` are the producers; the headless reporter (rich) and the TUI are
consumers. Events are plain frozen dataclasses so they can cross threads and be logged;
`event_to_dict` gives a JSON form. Candidate ids are "i{iteration}-k{index}"; training ids are the
candidate id for a search training, "control" for the search's raw-state control,
"select-<candidate|raw>-s{seed}" for the re-evaluation, "final-best-s{seed}" / "final-raw-s{seed}" for
the final evaluation (runs from before v2 keep their names: "baseline", "final-baseline-s{seed}").
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    run_id: str
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True)
class RunStarted(Event):
    env_id: str
    config: dict[str, Any]
    resumed: bool = False


@dataclass(frozen=True)
class Log(Event):
    level: str  # "info" | "warning" | "error"
    message: str


@dataclass(frozen=True)
class IterationStarted(Event):
    iteration: int
    iterations: int


@dataclass(frozen=True)
class LLMStarted(Event):
    purpose: str  # "candidate" | "repair" | "analysis"
    iteration: int
    sample: int  # sample index within the iteration (-1 for analysis)
    prompt_tokens: int


@dataclass(frozen=True)
class LLMToken(Event):
    purpose: str
    iteration: int
    sample: int
    text: str


@dataclass(frozen=True)
class LLMFinished(Event):
    purpose: str
    iteration: int
    sample: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    tokens_per_s: float


@dataclass(frozen=True)
class CandidateAccepted(Event):
    candidate_id: str
    iteration: int
    sample: int
    extra_dims: int


@dataclass(frozen=True)
class CandidateRejected(Event):
    candidate_id: str
    iteration: int
    sample: int
    attempt: int
    reason: str
    final: bool  # True when no repair attempt is left: the sample counts as failed


@dataclass(frozen=True)
class TrainingStarted(Event):
    training_id: str  # the search's trainings use the candidate id ("i0-k1"); "control"; "final-best-s1" ...
    total_steps: int
    seed: int
    purpose: str = "search"
    candidate_id: str | None = None  # whose F/G it trains (None: the raw state)


@dataclass(frozen=True)
class TrainingReused(Event):
    """A training identical to one already in the home (same key) was taken instead of trained again,
    or (reused_steps < total_steps) a shorter one is continued from its last checkpoint."""

    training_id: str
    total_steps: int
    reused_steps: int
    source_run_id: str
    source_training_id: str
    purpose: str = "search"
    score: float | None = None


def reuse_text(event: TrainingReused) -> str:
    """The one line every face prints for a reused (or continued) training."""
    if event.reused_steps >= event.total_steps:
        score = "" if event.score is None else f", score {event.score:.2f}"
        return (f"{event.training_id} reused: the same training is in run {event.source_run_id} "
                f"({event.source_training_id}{score}); not trained again")
    return (f"{event.training_id} continues {event.source_training_id} of run {event.source_run_id} from step "
            f"{event.reused_steps}: the same training, stopped shorter")


@dataclass(frozen=True)
class TrainingProgress(Event):
    training_id: str
    step: int
    total_steps: int
    steps_per_s: float
    eta_s: float
    last_episode_return: float | None = None


@dataclass(frozen=True)
class EvaluationDone(Event):
    training_id: str
    step: int
    value: float  # mean return, or success rate for goal tasks


@dataclass(frozen=True)
class TrainingFinished(Event):
    training_id: str
    status: str  # "finished" | "failed"
    score: float | None
    lipschitz: list[float] | None
    reason: str | None = None
    failure: str | None = None  # failed: "candidate" (its code broke a rule) or "infrastructure"


@dataclass(frozen=True)
class TrainingPaused(Event):
    """Successive halving: the training reached a rung and waits for the others of its iteration."""

    training_id: str
    step: int
    total_steps: int


@dataclass(frozen=True)
class TrainingStopped(Event):
    """Successive halving cut a candidate's search training at a rung; `score` is its rung score at `step`."""

    training_id: str
    step: int
    total_steps: int
    score: float | None
    reason: str


@dataclass(frozen=True)
class IterationFinished(Event):
    iteration: int
    best_candidate_id: str | None
    best_score: float | None


@dataclass(frozen=True)
class FinalEvaluationStarted(Event):
    best_candidate_id: str
    seeds: int  # paired seeds in the final evaluation (all of them, also those trained before)
    steps: int


@dataclass(frozen=True)
class VideoWritten(Event):
    candidate_id: str
    path: str


@dataclass(frozen=True)
class RunFinished(Event):
    status: str  # "finished" | "failed" | "interrupted"
    summary: dict[str, Any]
    reason: str | None = None


class EventSink(Protocol):
    def __call__(self, event: Event) -> None: ...


def event_to_dict(event: Event) -> dict[str, Any]:
    data = dataclasses.asdict(event)
    data["type"] = type(event).__name__
    return data
