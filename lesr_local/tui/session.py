"""One engine run driven from the app: the engine in a background thread, its events in a queue.

The engine's sink only appends to a thread-safe deque, so it never waits for the UI. The app drains
every session on a short timer (see LesrApp), folds the events into `LiveState` (what a Live run screen
shows when it is opened, or re-opened after the run went to the background) and hands the same batch to
the visible screen, which updates its widgets in place. Tokens therefore reach the screen in batches
(one per timer tick) instead of one message per token.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesr_local import events as ev
from lesr_local.config import RunConfig
from lesr_local.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_RUN_FAILED, LesrError
from lesr_local.search.engine import SearchEngine
from lesr_local.store.db import Store

LLM_TEXT_LIMIT = 200_000
UNSETTLED = ("pending", "writing", "accepted", "repairing", "running", "paused")
LOG_LIMIT = 2_000
CONTROL_IDS = ("control", "baseline")  # the search control ("baseline" in runs written before v2)


@dataclass
class CandidateLive:
    candidate_id: str
    iteration: int | None = None
    status: str = "pending"
    step: int = 0
    total: int | None = None
    score: float | None = None
    lipschitz: list[float] | None = None
    reason: str | None = None
    curve: list[tuple[int, float]] = field(default_factory=list)
    steps_per_s: float | None = None
    eta_s: float | None = None


@dataclass
class LiveState:
    """Everything the Live run screen shows, rebuilt from events alone."""

    run_id: str | None = None
    env_id: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "starting"  # starting | running | finished | failed | interrupted | error
    resumed: bool = False
    iteration: int | None = None
    iterations: int | None = None
    best_candidate_id: str | None = None
    best_score: float | None = None
    baseline: float | None = None
    final_started: bool = False
    candidates: dict[str, CandidateLive] = field(default_factory=dict)
    logs: list[tuple[str, str]] = field(default_factory=list)
    llm_text: str = ""
    llm_phase: str = ""  # e.g. "iteration 1 · sample 2 · candidate"
    tokens_per_s: float | None = None
    videos: dict[str, str] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    reason: str | None = None

    def candidate(self, candidate_id: str) -> CandidateLive:
        found = self.candidates.get(candidate_id)
        if found is None:
            found = self.candidates[candidate_id] = CandidateLive(candidate_id)
        return found

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))
        del self.logs[:-LOG_LIMIT]

    def apply(self, event: ev.Event) -> None:
        if self.run_id is None:
            self.run_id = event.run_id
        line = event_log_line(event)
        if line is not None:
            self.log(*line)
        match event:
            case ev.RunStarted():
                self.env_id, self.config, self.resumed = event.env_id, dict(event.config), event.resumed
                self.status = "running"
                self.iterations = self.config.get("iterations", self.iterations)
            case ev.IterationStarted():
                self.iteration, self.iterations = event.iteration, event.iterations
            case ev.LLMStarted():
                self.llm_phase = llm_phase(event.purpose, event.iteration, event.sample)
                self.llm_text = (self.llm_text + f"\n── {self.llm_phase} ──\n")[-LLM_TEXT_LIMIT:]
                if event.purpose in ("candidate", "repair") and event.sample >= 0:
                    row = self.candidate(search_candidate_id(event.iteration, event.sample))
                    row.iteration, row.status = event.iteration, "writing"
            case ev.LLMToken():
                self.llm_text = (self.llm_text + event.text)[-LLM_TEXT_LIMIT:]
            case ev.LLMFinished():
                self.tokens_per_s = event.tokens_per_s
                self.llm_text += f"\n   [{event.completion_tokens} tokens, {event.tokens_per_s:.1f} tok/s]\n"
            case ev.CandidateAccepted():
                row = self.candidate(event.candidate_id)
                row.iteration, row.status = event.iteration, "accepted"
            case ev.CandidateRejected():
                row = self.candidate(event.candidate_id)
                row.iteration = event.iteration
                row.status = "rejected" if event.final else "repairing"
                row.reason = event.reason
            case ev.TrainingStarted():
                row = self.candidate(event.training_id)
                row.status, row.total, row.step = "running", event.total_steps, 0
                row.iteration = row.iteration if row.iteration is not None else iteration_of(event.training_id)
            case ev.TrainingReused():
                row = self.candidate(event.training_id)
                if event.reused_steps >= event.total_steps:
                    row.status, row.score, row.total, row.step = "finished", event.score, event.total_steps, event.total_steps
                    row.reason = f"reused from run {event.source_run_id}"
                    if event.training_id in CONTROL_IDS:
                        self.baseline = event.score
            case ev.TrainingProgress():
                row = self.candidate(event.training_id)
                row.status, row.step, row.total = "running", event.step, event.total_steps
                row.steps_per_s, row.eta_s = event.steps_per_s, event.eta_s
            case ev.EvaluationDone():
                self.candidate(event.training_id).curve.append((event.step, event.value))
            case ev.TrainingFinished():
                row = self.candidate(event.training_id)
                row.status, row.score, row.lipschitz, row.reason = (
                    event.status, event.score, event.lipschitz, event.reason)
                if row.total:
                    row.step = row.total if event.status == "finished" else row.step
                if event.training_id in CONTROL_IDS:
                    self.baseline = event.score
            case ev.TrainingPaused():  # successive halving: at a rung, waiting for the decision
                row = self.candidate(event.training_id)
                row.status, row.step = "paused", event.step
            case ev.TrainingStopped():
                row = self.candidate(event.training_id)
                row.status, row.step, row.score, row.reason = "stopped", event.step, event.score, event.reason
            case ev.IterationFinished():
                if event.best_candidate_id is not None:
                    self.best_candidate_id, self.best_score = event.best_candidate_id, event.best_score
            case ev.FinalEvaluationStarted():
                self.final_started = True
                self.best_candidate_id = event.best_candidate_id
            case ev.VideoWritten():
                self.videos[event.candidate_id] = event.path
            case ev.RunFinished():
                self.status, self.summary, self.reason = event.status, dict(event.summary), event.reason
                for row in self.candidates.values():
                    if row.status in UNSETTLED:
                        row.status = "stopped"  # the run ended before this candidate did
            case _:
                pass


def event_log_line(event: ev.Event) -> tuple[str, str] | None:
    """The log line (level, message) an event deserves, if any; the live screen shows the same lines."""
    match event:
        case ev.Log():
            return event.level, event.message
        case ev.RunStarted():
            return "info", f"run {event.run_id} {'resumed' if event.resumed else 'started'} on {event.env_id}"
        case ev.IterationStarted():
            return "info", f"iteration {event.iteration + 1}/{event.iterations}"
        case ev.CandidateAccepted():
            return "info", f"{event.candidate_id} accepted (+{event.extra_dims} dims)"
        case ev.CandidateRejected():
            verdict = "rejected" if event.final else "rejected, asking for a repair"
            return "warning", f"{event.candidate_id} {verdict} (attempt {event.attempt + 1}): {event.reason}"
        case ev.TrainingFinished():
            message = f"{event.training_id} {event.status}"
            if event.score is not None:
                message += f", score {event.score:.3f}"
            if event.reason:
                message += f": {event.reason}"
            return ("info" if event.status == "finished" else "warning"), message
        case ev.TrainingReused():
            return "info", ev.reuse_text(event)
        case ev.TrainingPaused():
            return "info", f"{event.training_id} reached its rung at step {event.step}"
        case ev.TrainingStopped():
            return "warning", f"{event.training_id} stopped at step {event.step} by successive halving"
        case ev.IterationFinished():
            best = event.best_candidate_id or "none"
            score = "" if event.best_score is None else f" ({event.best_score:.3f})"
            return "info", f"iteration {event.iteration + 1} done; best so far {best}{score} (search score)"
        case ev.FinalEvaluationStarted():
            return "info", (f"final evaluation: {event.best_candidate_id} vs the raw state, "
                            f"{event.seeds} seeds × {event.steps} steps")
        case ev.VideoWritten():
            return "info", f"video of {event.candidate_id}: {event.path}"
        case ev.RunFinished():
            return ("info" if event.status == "finished" else "error"), (
                f"run {event.status}" + (f": {event.reason}" if event.reason else ""))
    return None


def search_candidate_id(iteration: int, sample: int) -> str:
    return f"i{iteration}-k{sample}"


def iteration_of(candidate_id: str) -> int | None:
    if candidate_id.startswith("i") and "-k" in candidate_id:
        head = candidate_id[1:].split("-k", 1)[0]
        if head.isdigit():
            return int(head)
    return None


def llm_phase(purpose: str, iteration: int, sample: int) -> str:
    if purpose == "analysis":
        return f"iteration {iteration + 1} · analysis"
    return f"iteration {iteration + 1} · sample {sample + 1} · {purpose}"


EXIT_BY_STATUS = {"finished": EXIT_OK, "failed": EXIT_RUN_FAILED, "interrupted": EXIT_INTERRUPTED}


class RunSession:
    """A run the app drives: `start()` launches the engine thread; `drain()` is called from the UI."""

    def __init__(self, home: Path, config: RunConfig | None = None, resume_run_id: str | None = None,
                 seeds: int | None = None) -> None:
        if (config is None) == (resume_run_id is None):
            raise ValueError("give either a config or a run id to resume")
        self.home = Path(home)
        self.config = config
        self.resume_run_id = resume_run_id
        self.seeds = seeds  # a resume with more final seeds (a finished run: add them)
        self.state = LiveState(run_id=resume_run_id, env_id=config.env_id if config else None,
                               config=config.to_dict() if config else {})
        self.cancel_event = threading.Event()
        self._queue: deque[ev.Event] = deque()
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.error_code: int | None = None
        self.result: Any = None

    # engine thread ---------------------------------------------------------------------------

    def sink(self, event: ev.Event) -> None:
        self._queue.append(event)

    def _run(self) -> None:
        try:
            store = Store(self.home)
            engine = SearchEngine(store, self.sink, self.cancel_event)
            if self.resume_run_id is not None and self.seeds is not None and \
                    store.get_run(self.resume_run_id).status == "finished":
                self.result = engine.add_seeds(self.resume_run_id, self.seeds)
            elif self.resume_run_id is not None:
                self.result = engine.resume(self.resume_run_id, seeds=self.seeds)
            else:
                assert self.config is not None
                self.result = engine.start(self.config)
        except LesrError as exc:
            self.error, self.error_code = str(exc), exc.exit_code
        except Exception as exc:  # noqa: BLE001 - shown in the UI as one line, never a traceback
            self.error, self.error_code = f"internal error: {type(exc).__name__}: {exc}", EXIT_INTERNAL

    # UI thread -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lesr-engine", daemon=True)
        self._thread.start()

    def drain(self) -> list[ev.Event]:
        """Take every queued event, fold it into `state`, and return the batch (in order)."""
        batch: list[ev.Event] = []
        while self._queue:
            event = self._queue.popleft()
            self.state.apply(event)
            batch.append(event)
        if self.finished and self.error is not None and self.state.status not in EXIT_BY_STATUS:
            self.state.status = "error"
            self.state.reason = self.error
        return batch

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def finished(self) -> bool:
        return self._thread is not None and not self._thread.is_alive() and not self._queue

    def request_cancel(self) -> None:
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    @property
    def exit_code(self) -> int:
        if self.state.status in EXIT_BY_STATUS:
            return EXIT_BY_STATUS[self.state.status]
        if self.error_code is not None:
            return self.error_code
        if self.cancel_event.is_set():
            return EXIT_INTERRUPTED
        return EXIT_INTERNAL

    @property
    def title(self) -> str:
        return f"{self.state.run_id or 'new run'} · {self.state.env_id or '?'}"
