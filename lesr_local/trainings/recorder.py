"""One training job of the search: its spec, its progress events and store writes, its result.

Results are written from the executor thread the moment a training returns, so a run killed later
keeps every training that had finished. A training cut short by a stop (Ctrl-C, an engine error)
stays `pending`: a resumed run continues it from its checkpoint.
"""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lesr_local import events as ev
from lesr_local.store import CandidateRecord, Store

if TYPE_CHECKING:
    from lesr_local.rl.spec import TrainProgress, TrainResult

STORE_PROGRESS_EVERY_S = 0.5


@dataclass
class TrainingJob:
    run_id: str
    candidate: CandidateRecord
    dim_names: list[str]
    recorded: threading.Event = field(default_factory=threading.Event)
    result: TrainResult | None = None
    error: str | None = None
    curve: list[tuple[int, float]] = field(default_factory=list)
    _last_store_write: float = 0.0

    @property
    def candidate_id(self) -> str:
        return self.candidate.candidate_id


class JobRecorder:
    """Turns worker progress and results into events and store rows (called from executor threads)."""

    def __init__(self, store: Store, sink: ev.EventSink, cancel: threading.Event) -> None:
        self.store = store
        self.sink = sink
        self.cancel = cancel

    def started(self, job: TrainingJob) -> None:
        cand = job.candidate
        self.store.mark_running(job.run_id, cand.candidate_id)
        self.sink(ev.TrainingStarted(job.run_id, candidate_id=cand.candidate_id, total_steps=cand.total_steps,
                                     seed=cand.seed))

    def progress(self, job: TrainingJob, p: TrainProgress) -> None:
        eta = (p.total_steps - p.step) / p.steps_per_s if p.steps_per_s > 0 else 0.0
        self.sink(ev.TrainingProgress(
            job.run_id, candidate_id=job.candidate_id, step=p.step, total_steps=p.total_steps,
            steps_per_s=p.steps_per_s, eta_s=eta, last_episode_return=p.episode_return,
        ))
        now = time.monotonic()
        if p.evaluation is not None:
            step, value = p.evaluation
            job.curve.append((int(step), float(value)))
            self.sink(ev.EvaluationDone(job.run_id, candidate_id=job.candidate_id, step=int(step), value=float(value)))
            self.store.update_progress(job.run_id, job.candidate_id, p.step, job.curve)
            job._last_store_write = now
        elif now - job._last_store_write >= STORE_PROGRESS_EVERY_S:
            self.store.update_progress(job.run_id, job.candidate_id, p.step)
            job._last_store_write = now

    def done(self, job: TrainingJob, future: Future[TrainResult]) -> None:
        try:
            result = future.result()
            job.result = result
            self._record(job, result)
        except BaseException as exc:  # noqa: BLE001 - recorded on the job; the loop decides
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.recorded.set()

    def _record(self, job: TrainingJob, result: TrainResult) -> None:
        cid = job.candidate_id
        if result.status == "finished":
            names = self._names(job, result.lipschitz)
            self.store.finish_candidate(
                job.run_id, cid, score=result.score, curve=[(int(s), float(v)) for s, v in result.curve],
                lipschitz=result.lipschitz, dim_names=names, steps=result.steps, seconds=result.seconds,
                steps_per_s=result.steps_per_s, policy_path=result.policy_path,
            )
            self.store.set_resumed_from(job.run_id, cid, result.resumed_from)
            self.sink(ev.TrainingFinished(job.run_id, candidate_id=cid, status="finished", score=result.score,
                                          lipschitz=result.lipschitz))
            if job.candidate.checkpoint_dir:
                # Finished trainings are never resumed: free the disk (checkpoints hold the replay buffer).
                shutil.rmtree(job.candidate.checkpoint_dir, ignore_errors=True)
            return
        if result.status == "paused":  # successive halving: reached its rung, waits for the decision
            names = self._names(job, result.lipschitz)
            self.store.pause_candidate(job.run_id, cid, step=result.steps,
                                       curve=[(int(s), float(v)) for s, v in result.curve],
                                       lipschitz=result.lipschitz, dim_names=names, seconds=result.seconds)
            self.sink(ev.TrainingPaused(job.run_id, candidate_id=cid, step=result.steps,
                                        total_steps=job.candidate.total_steps))
            return
        if result.status == "cancelled" or self.cancel.is_set():
            # Stopped, not broken: stays pending and continues from its checkpoint on resume.
            return
        reason = result.reason or "training failed"
        self.store.fail_candidate(job.run_id, cid, reason)
        self.sink(ev.TrainingFinished(job.run_id, candidate_id=cid, status="failed", score=None, lipschitz=None,
                                      reason=reason))

    @staticmethod
    def _names(job: TrainingJob, lipschitz: list[float] | None) -> list[str] | None:
        if lipschitz is None:
            return None
        names = job.dim_names[: len(lipschitz)]
        return names + [f"feature {j}" for j in range(len(names), len(lipschitz))]


def checkpoint_dir(run_dir: Path, candidate_id: str) -> Path:
    return run_dir / "checkpoints" / candidate_id


def policy_path(run_dir: Path, candidate_id: str) -> Path:
    return run_dir / "policies" / f"{candidate_id}.safetensors"
