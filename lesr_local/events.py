"""Typed events emitted by the search engine.

The engine is the only producer; the headless reporter (rich) and the TUI are consumers. Events are
plain frozen dataclasses so they can cross threads and be logged; `event_to_dict` gives a JSON form.
Candidate ids are strings: "i{iteration}-k{index}" for search candidates, "baseline" for the raw-state
control, "final-best-s{seed}" / "final-baseline-s{seed}" for final-evaluation trainings.
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
    candidate_id: str
    total_steps: int
    seed: int


@dataclass(frozen=True)
class TrainingProgress(Event):
    candidate_id: str
    step: int
    total_steps: int
    steps_per_s: float
    eta_s: float
    last_episode_return: float | None = None


@dataclass(frozen=True)
class EvaluationDone(Event):
    candidate_id: str
    step: int
    value: float  # mean return, or success rate for goal tasks


@dataclass(frozen=True)
class TrainingFinished(Event):
    candidate_id: str
    status: str  # "finished" | "failed"
    score: float | None
    lipschitz: list[float] | None
    reason: str | None = None


@dataclass(frozen=True)
class TrainingPaused(Event):
    """Successive halving: the training reached a rung and waits for the others of its iteration."""

    candidate_id: str
    step: int
    total_steps: int


@dataclass(frozen=True)
class CandidateStopped(Event):
    """Successive halving cut the candidate at a rung; `score` is its rung score at `step`."""

    candidate_id: str
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
    seeds: int
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
