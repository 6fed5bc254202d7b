"""The one place that asks for a training and gets its result: trained, resumed, or reused.

Every training of lesr-local (a search candidate, the search control, the re-evaluation, the final
arms, ablation variants, transfer arms, `lesr evaluate`) is asked for here with a `TrainingRequest`:

1. Its row in the store is created, or found (a resumed run asks again for what it asked before).
   A row that already ended is the answer: finished, or failed because of its candidate (an outcome).
   A row that failed for any other reason (a killed worker, a lost node) is asked for again.
2. With reuse on, a finished training of the same key anywhere in the home is taken instead of
   training (`reused_from`: its run and training); a finished training of the same lineage (the same
   settings, fewer steps) with a kept checkpoint is continued from that checkpoint: checkpoints sit
   on episode boundaries, where a resume is exact, so the result equals one uninterrupted training.
   Only finished trainings are reused, so concurrent runs in one home never share a half-done one.
3. Otherwise it is submitted to the executor; progress and the result are written to the store the
   moment they arrive (from the executor's threads), so a run killed later keeps every training
   that had finished. A training cut short by a stop stays pending and continues from its checkpoint.

Checkpoints hold the replay buffer, so they are kept only while they can serve: unfinished trainings
(resume), and the last one of a finished TD3 training (extension by a longer training), within a cap
per home (`checkpoint_cap_bytes`, oldest freed first). `lesr gc` frees the rest on demand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from lesr_local import events as ev
from lesr_local.rl.checkpoint import checkpoint_path, has_checkpoint
from lesr_local.rl.spec import CANDIDATE_FAILURE, TrainProgress, TrainResult, TrainSpec
from lesr_local.sandbox.tensorfile import TensorFileError, read_state
from lesr_local.store import INFRASTRUCTURE_FAILURE, NewTraining, Store, TrainingRecord
from lesr_local.trainings.executors import Executor
from lesr_local.trainings.keys import digest, training_key

STORE_PROGRESS_EVERY_S = 0.5
STOP_GRACE_S = 20.0
CHECKPOINT_CAP_ENV = "LESR_CHECKPOINT_CAP_GB"
DEFAULT_CHECKPOINT_CAP_BYTES = 4 * 2**30


def checkpoint_cap_bytes() -> int:
    """Kept checkpoints of finished trainings may hold this much of a home ($LESR_CHECKPOINT_CAP_GB)."""
    try:
        return int(float(os.environ[CHECKPOINT_CAP_ENV]) * 2**30)
    except (KeyError, ValueError):
        return DEFAULT_CHECKPOINT_CAP_BYTES


@dataclass(frozen=True)
class TrainingRequest:
    """One training asked for. `spec` carries every setting but the file paths, which the service
    chooses (inside the run's folder)."""

    training_id: str
    purpose: str  # search | control | selection | final | ablation | transfer
    arm: str  # candidate | raw | an ablation variant
    spec: TrainSpec
    candidate_id: str | None = None  # whose F/G it trains (None: the raw state)
    group_id: str | None = None
    dim_names: list[str] = field(default_factory=list)
    pauses: tuple[int, ...] = ()  # successive halving: the rung steps it may pause at (part of its key)


@dataclass
class TrainingJob:
    run_id: str
    record: TrainingRecord
    dim_names: list[str]
    recorded: threading.Event = field(default_factory=threading.Event)
    result: TrainResult | None = None
    error: str | None = None
    curve: list[tuple[int, float]] = field(default_factory=list)
    _last_store_write: float = 0.0

    @property
    def training_id(self) -> str:
        return self.record.training_id


class Trainings:
    """Trainings of one run (or one experiment stored as a run) on one executor."""

    def __init__(self, store: Store, run_id: str, executor: Executor, sink: ev.EventSink,
                 halt: threading.Event, *, reuse: bool = True) -> None:
        self.store = store
        self.run_id = run_id
        self.executor = executor
        self.sink = sink
        self.halt = halt
        self.reuse = reuse
        self.run_dir = store.ensure_run_dir(run_id)

    # -- asking ------------------------------------------------------------------------------

    def ask(self, request: TrainingRequest, pause_at: int | None = None) -> TrainingJob:
        """The training's job: already recorded when nothing needs training (finished, reused, or
        failed because of its candidate), else submitted. `pause_at`: a rung step to stop at."""
        record = self._row(request)
        job = TrainingJob(self.run_id, record, request.dim_names)
        if record.status == "finished" or (record.status == "failed" and record.failure == CANDIDATE_FAILURE):
            job.recorded.set()
            return job
        if record.status in ("failed", "cancelled"):
            self.store.retry_training(self.run_id, record.training_id)  # missing data, not an outcome
        fresh = record.steps_done == 0 and record.rung_step is None and not has_checkpoint(_path(record.checkpoint_dir))
        if self.reuse and fresh and not request.pauses and self._reuse(record, job):
            return job
        if self.reuse and fresh and not request.pauses and request.spec.algo == "td3":
            self._continue_shorter(record)
        return self._submit(request, self.store.get_training(self.run_id, record.training_id), job, pause_at)

    def _row(self, request: TrainingRequest) -> TrainingRecord:
        found = self.store.find_training(self.run_id, request.training_id) or self._same_training(request)
        if found is not None:
            return found
        key, lineage, settings = training_key(request.spec, request.pauses)
        spec = request.spec
        raw = spec.candidate_source is None
        weight = 0.0 if raw else float(spec.intrinsic_weight)
        return self.store.add_training(self.run_id, NewTraining(
            training_id=request.training_id, purpose=request.purpose, arm=request.arm,
            candidate_id=request.candidate_id, seed=spec.seed, total_steps=spec.steps, key=key, lineage=lineage,
            algo=spec.algo, shaping=spec.shaping if weight else None, intrinsic_weight=weight,
            observation=spec.observation, group_id=request.group_id, settings=settings,
            checkpoint_dir=self.run_dir / "checkpoints" / request.training_id,
            policy_path=self.run_dir / "policies" / f"{request.training_id}.safetensors",
        ))

    def _same_training(self, request: TrainingRequest) -> TrainingRecord | None:
        """The run's row for this training under another name (stores from before v2 named the raw arms
        "baseline", "select-baseline-s3", "final-baseline-s1")."""
        spec = request.spec
        return next((t for t in self.store.list_trainings(self.run_id, purpose=request.purpose)
                     if t.arm == request.arm and t.candidate_id == request.candidate_id and t.seed == spec.seed
                     and t.total_steps == spec.steps and t.group_id == request.group_id and t.algo == spec.algo),
                    None)

    def _reuse(self, record: TrainingRecord, job: TrainingJob) -> bool:
        source = self.store.finished_with_key(record.key)
        if source is None or (source.run_id, source.training_id) == (record.run_id, record.training_id):
            return False
        if source.policy_path and not Path(source.policy_path).is_file():
            return False  # its policy was removed by hand: train anew rather than point at nothing
        self.store.record_reuse(self.run_id, record.training_id, source)
        self.sink(ev.TrainingReused(self.run_id, training_id=record.training_id, total_steps=record.total_steps,
                                    reused_steps=record.total_steps, source_run_id=source.run_id,
                                    source_training_id=source.training_id, purpose=record.purpose,
                                    score=source.score))
        job.record = self.store.get_training(self.run_id, record.training_id)
        job.recorded.set()
        return True

    def _continue_shorter(self, record: TrainingRecord) -> None:
        """Start from the last checkpoint of a shorter finished training with the same settings."""
        for source in self.store.finished_with_lineage(record.lineage, record.total_steps):
            step = _boundary_step(source.checkpoint_dir)
            if step is None or not record.checkpoint_dir:
                continue
            target = checkpoint_path(Path(record.checkpoint_dir))
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(checkpoint_path(Path(source.checkpoint_dir)), target)  # type: ignore[arg-type]
            except OSError:
                shutil.copyfile(checkpoint_path(Path(source.checkpoint_dir)), target)  # type: ignore[arg-type]
            self.store.set_extension_source(self.run_id, record.training_id, source, step)
            self.sink(ev.TrainingReused(self.run_id, training_id=record.training_id,
                                        total_steps=record.total_steps, reused_steps=step,
                                        source_run_id=source.run_id, source_training_id=source.training_id,
                                        purpose=record.purpose))
            return

    def _submit(self, request: TrainingRequest, record: TrainingRecord, job: TrainingJob,
                pause_at: int | None) -> TrainingJob:
        job.record = record
        job.curve = list(record.curve)  # a resumed or rung-continued training keeps its curve so far
        spec = dataclasses.replace(
            request.spec, checkpoint_dir=_path(record.checkpoint_dir), policy_path=_path(record.policy_path),
            workers=self.executor.workers, pause_at_step=pause_at,
            checkpoint_every=request.spec.checkpoint_every or max(request.spec.eval.every, request.spec.steps // 20),
        )
        tid = record.training_id
        future = self.executor.submit(
            spec, lambda p: self._progress(job, p), self.halt, lambda: self._started(job),
            lambda pid: self.store.set_worker_pid(self.run_id, tid, pid),
            on_node=lambda node, host: self.store.set_placement(
                self.run_id, tid, getattr(self.executor, "name", "local"), node))
        future.add_done_callback(lambda f: self._done(job, f))
        return job

    # -- waiting -----------------------------------------------------------------------------

    def wait(self, jobs: list[TrainingJob]) -> None:
        """Until every job is recorded; after a halt, at most STOP_GRACE_S more. RuntimeError when
        recording one failed (the store could not be written)."""
        pending = list(jobs)
        stop_deadline: float | None = None
        while pending:
            pending = [j for j in pending if not j.recorded.wait(0.2)]
            if self.halt.is_set():
                stop_deadline = stop_deadline or time.monotonic() + STOP_GRACE_S
                if time.monotonic() > stop_deadline:
                    break
        errors = [f"{j.training_id}: {j.error}" for j in jobs if j.error]
        if errors:
            raise RuntimeError("recording a training failed: " + "; ".join(errors))

    # -- recording (executor threads) -------------------------------------------------------

    def _started(self, job: TrainingJob) -> None:
        record = job.record
        self.store.mark_training_running(self.run_id, record.training_id)
        self.sink(ev.TrainingStarted(self.run_id, training_id=record.training_id, total_steps=record.total_steps,
                                     seed=record.seed, purpose=record.purpose, candidate_id=record.candidate_id))

    def _progress(self, job: TrainingJob, p: TrainProgress) -> None:
        eta = (p.total_steps - p.step) / p.steps_per_s if p.steps_per_s > 0 else 0.0
        tid = job.training_id
        self.sink(ev.TrainingProgress(self.run_id, training_id=tid, step=p.step, total_steps=p.total_steps,
                                      steps_per_s=p.steps_per_s, eta_s=eta, last_episode_return=p.episode_return))
        now = time.monotonic()
        if p.evaluation is not None:
            step, value = int(p.evaluation[0]), float(p.evaluation[1])
            # after a resume the worker reports from its checkpoint on: keep what came before it
            job.curve = [point for point in job.curve if point[0] < step] + [(step, value)]
            self.sink(ev.EvaluationDone(self.run_id, training_id=tid, step=step, value=value))
            self.store.update_training_progress(self.run_id, tid, p.step, job.curve)
            job._last_store_write = now
        elif now - job._last_store_write >= STORE_PROGRESS_EVERY_S:
            self.store.update_training_progress(self.run_id, tid, p.step)
            job._last_store_write = now

    def _done(self, job: TrainingJob, future: Future[TrainResult]) -> None:
        try:
            result = future.result()
            job.result = result
            self._record(job, result)
        except BaseException as exc:  # noqa: BLE001 - recorded on the job; the caller decides
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.recorded.set()

    def _record(self, job: TrainingJob, result: TrainResult) -> None:
        record, tid = job.record, job.training_id
        curve = [(int(s), float(v)) for s, v in result.curve]
        walls = getattr(result, "walls", None)
        if result.status == "finished":
            self._settle_key(record, result.numerics)
            self.store.finish_training(
                self.run_id, tid, score=result.score, curve=curve, lipschitz=result.lipschitz,
                dim_names=self._names(job, result.lipschitz), steps=result.steps, seconds=result.seconds,
                steps_per_s=result.steps_per_s, policy_path=result.policy_path, resumed_from=result.resumed_from,
                walls=walls, numerics=result.numerics)
            self.sink(ev.TrainingFinished(self.run_id, training_id=tid, status="finished", score=result.score,
                                          lipschitz=result.lipschitz))
            if record.algo != "td3" or not _boundary_step(record.checkpoint_dir):
                _remove(record.checkpoint_dir)  # nothing can continue it
            enforce_checkpoint_cap(self.store)
            return
        if result.status == "paused":  # successive halving: reached its rung, waits for the decision
            self.store.pause_training(self.run_id, tid, step=result.steps, curve=curve, lipschitz=result.lipschitz,
                                      dim_names=self._names(job, result.lipschitz), seconds=result.seconds)
            self.sink(ev.TrainingPaused(self.run_id, training_id=tid, step=result.steps,
                                        total_steps=record.total_steps))
            return
        if result.status == "cancelled" or self.halt.is_set():
            return  # stopped, not broken: stays pending and continues from its checkpoint on resume
        reason = result.reason or "training failed"
        failure = CANDIDATE_FAILURE if result.failure == CANDIDATE_FAILURE else INFRASTRUCTURE_FAILURE
        self.store.fail_training(self.run_id, tid, reason, failure=failure, walls=walls)
        if failure == CANDIDATE_FAILURE:
            _remove(record.checkpoint_dir)  # the same code fails the same way: never resumed
        self.sink(ev.TrainingFinished(self.run_id, training_id=tid, status="failed", score=None, lipschitz=None,
                                      reason=reason, failure=failure))

    def _settle_key(self, record: TrainingRecord, numerics: str | None) -> None:
        """The key was computed with the numerics this machine predicted; a worker that ran on others
        (another device, a Ray node with another CPU) files the training under what it really ran on."""
        settings = record.settings
        if not numerics or settings is None or settings.get("numerics") == numerics:
            return
        settings = dict(settings, numerics=numerics)
        self.store.rekey_training(self.run_id, record.training_id, digest(settings, record.total_steps),
                                  digest(settings, None), settings)

    @staticmethod
    def _names(job: TrainingJob, lipschitz: list[float] | None) -> list[str] | None:
        if lipschitz is None:
            return None
        names = job.dim_names[: len(lipschitz)]
        return names + [f"feature {j}" for j in range(len(names), len(lipschitz))]


def _path(text: str | None) -> Path | None:
    return None if text is None else Path(text)


def _remove(folder: str | None) -> None:
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def _boundary_step(folder: str | None) -> int | None:
    """The step of the checkpoint in `folder` when a longer training can continue it exactly."""
    if not folder or not has_checkpoint(Path(folder)):
        return None
    try:
        state = read_state(checkpoint_path(Path(folder)))
    except (OSError, TensorFileError):
        return None
    if not state.get("episode_boundary") or not isinstance(state.get("step"), int):
        return None
    return int(state["step"])


def kept_checkpoints(store: Store) -> list[tuple[TrainingRecord, int]]:
    """Checkpoints of finished trainings (kept for extension), with their size in bytes, oldest first."""
    kept = []
    for record in store.all_trainings():
        if record.status != "finished" or not has_checkpoint(_path(record.checkpoint_dir)):
            continue
        with contextlib.suppress(OSError):
            kept.append((record, checkpoint_path(Path(record.checkpoint_dir)).stat().st_size))  # type: ignore[arg-type]
    return sorted(kept, key=lambda pair: pair[0].finished_at or 0.0)


def enforce_checkpoint_cap(store: Store, cap: int | None = None) -> int:
    """Free the oldest kept checkpoints until they fit the cap; returns the bytes freed."""
    cap = checkpoint_cap_bytes() if cap is None else cap
    kept = kept_checkpoints(store)
    total = sum(size for _, size in kept)
    freed = 0
    for record, size in kept:
        if total - freed <= cap:
            break
        _remove(record.checkpoint_dir)
        freed += size
    return freed

