"""Engine side of a training: run it in a sandboxed subprocess and stream its progress.

`run_training` spawns a fresh interpreter (multiprocessing "spawn"), which imports torch, warms up
its thread pool, applies the sandbox limits and only then loads the candidate's code. Messages come
back over a one-way pipe: ("progress", TrainProgress), ("write", (path, bytes)) for checkpoints
and the policy (the sandbox forbids file writes; the parent writes them atomically), then
("result", TrainResult) or ("failed", reason). Whatever goes wrong in the child (exception, crash, kill, hang) ends as a
TrainResult with status "failed" and a one-line reason; `cancel` terminates the child and returns
status "cancelled" (the last checkpoint stays on disk, so a later call resumes from it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing as mp
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from lesr_local.rl.spec import TrainProgress, TrainResult, TrainSpec

DEFAULT_HANG_SECONDS = 300.0  # no message from the worker for this long => hung
_live_lock = threading.Lock()
_live_workers = 0


def run_training(
    spec: TrainSpec, on_progress: Callable[[TrainProgress], None] | None = None,
    cancel: threading.Event | None = None, *, hang_seconds: float = DEFAULT_HANG_SECONDS,
    on_pid: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train in a sandboxed subprocess; `on_pid(pid)` is told the worker's pid once it started."""
    global _live_workers
    with _live_lock:
        _live_workers += 1
        concurrent = spec.workers or _live_workers
    started = time.perf_counter()
    try:
        return _supervise(spec, concurrent, on_progress, cancel, hang_seconds, started, on_pid)
    finally:
        with _live_lock:
            _live_workers -= 1


def _supervise(
    spec: TrainSpec, concurrent: int, on_progress: Callable[[TrainProgress], None] | None,
    cancel: threading.Event | None, hang_seconds: float, started: float,
    on_pid: Callable[[int], None] | None = None,
) -> TrainResult:
    ctx = mp.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    # The spawned child re-imports the parent's __main__ module (which may import torch) before
    # worker_main runs, so the OpenMP environment must already be in the environment it inherits.
    set_thread_env()
    proc = ctx.Process(target=worker_main, args=(spec, concurrent, sender, os.getpid()), daemon=True,
                       name=f"lesr-train-{spec.env_id}-s{spec.seed}")
    proc.start()
    sender.close()
    if on_pid is not None and proc.pid is not None:
        on_pid(proc.pid)
    last_message = time.monotonic()
    last_step = 0
    try:
        while True:
            if cancel is not None and cancel.is_set():
                _stop(proc)
                return _failed_result("cancelled", "cancelled", started, last_step)
            if receiver.poll(0.1):
                try:
                    kind, payload = receiver.recv()
                except (EOFError, OSError):
                    proc.join(5)
                    return _failed_result("failed", _death_reason(proc), started, last_step)
                last_message = time.monotonic()
                if kind == "progress":
                    progress = TrainProgress(**payload)
                    last_step = progress.step
                    if on_progress is not None:
                        on_progress(progress)
                elif kind == "write":  # the sandboxed worker cannot write files itself
                    from lesr_local.rl.checkpoint import write_atomic

                    path, data = payload
                    write_atomic(Path(path), data)
                elif kind == "result":
                    proc.join(10)
                    return _result_from(payload)
                else:  # "failed"
                    proc.join(10)
                    return _failed_result("failed", str(payload), started, last_step)
            elif not proc.is_alive():
                # Drain anything sent just before exiting, then report how it died.
                if receiver.poll(0):
                    continue
                return _failed_result("failed", _death_reason(proc), started, last_step)
            elif time.monotonic() - last_message > hang_seconds:
                _stop(proc)
                return _failed_result(
                    "failed", f"training worker hung: no progress for {hang_seconds:.0f} s", started,
                    last_step)
    finally:
        receiver.close()
        if proc.is_alive():
            _stop(proc)


def _stop(proc: mp.process.BaseProcess) -> None:
    proc.terminate()
    proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join(5)


def _death_reason(proc: mp.process.BaseProcess) -> str:
    code = proc.exitcode
    if code is None:
        return "training worker stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = {"SIGKILL": " (killed: out of memory or a limit)", "SIGXCPU": " (CPU time limit)",
                "SIGSEGV": " (crashed)"}.get(name, "")
        return f"training worker died with {name}{hint}"
    return f"training worker exited with code {code} without a result"


def _failed_result(status: str, reason: str, started: float, step: int) -> TrainResult:
    return TrainResult(status=status, reason=reason, score=None, curve=[], lipschitz=None, feature_dim=0,
                       steps=step, seconds=time.perf_counter() - started, steps_per_s=0.0,
                       updates_per_s=0.0, policy_path=None)


def _result_from(payload: dict[str, Any]) -> TrainResult:
    payload = dict(payload)
    payload["curve"] = [(int(s), float(v)) for s, v in payload["curve"]]
    return TrainResult(**payload)


# -- the child ---------------------------------------------------------------------------------


# numpy's BLAS stays single-threaded in training processes (it only ever sees single states). No
# OMP_WAIT_POLICY here: with several torch threads, idle OpenMP threads must be allowed to spin
# briefly between parallel regions (libgomp's default). PASSIVE made every region pay a futex
# wake-up: one worker with 2 threads measured 81 env steps/s instead of 158 on HalfCheetah.
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1"}


def set_thread_env() -> None:
    for key, value in THREAD_ENV.items():
        os.environ.setdefault(key, value)


def worker_main(spec: TrainSpec, concurrent: int, conn: Connection, parent_pid: int | None = None) -> None:
    """Entry point of the training subprocess (this module is imported without torch, so the
    thread environment below is in place before torch and numpy load their runtimes)."""
    if parent_pid is not None:
        from lesr_local.procs import die_with_parent

        die_with_parent(parent_pid)
    set_thread_env()
    try:
        _worker_body(spec, concurrent, conn)
    except MemoryError:
        _send(conn, ("failed", "training worker ran out of memory (sandbox limit)"))
    except BaseException as exc:  # noqa: BLE001 - the parent must always get a one-line reason
        text = " ".join(str(exc).split())[:300]
        _send(conn, ("failed", f"training worker error: {type(exc).__name__}: {text}"))
    finally:
        conn.close()


def _send(conn: Connection, message: tuple[str, Any]) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):  # the parent is gone: nothing to report to
        conn.send(message)


def _worker_body(spec: TrainSpec, concurrent: int, conn: Connection) -> None:
    from lesr_local.rl.device import configure_threads, threads_per_worker
    from lesr_local.rl.features import Features
    from lesr_local.rl.sandboxing import enter_training_sandbox
    from lesr_local.rl.trainer import train

    configure_threads(threads_per_worker(spec.threads, concurrent))
    enter_training_sandbox(spec)
    features = Features()
    if spec.candidate_source is not None:
        from lesr_local.candidates.sandbox import CandidateRejected, load_candidate

        try:
            functions = load_candidate(spec.candidate_source)
        except CandidateRejected as exc:
            _send(conn, ("failed", f"candidate rejected: {exc}"))
            return
        features = Features(functions.revise_state, functions.intrinsic_reward)

    def emit(progress: TrainProgress) -> None:
        _send(conn, ("progress", dataclasses.asdict(progress)))

    def write(path: Path, data: bytes) -> None:
        _send(conn, ("write", (str(path), data)))

    result = train(spec, features, emit, writer=write)
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    _send(conn, ("result", dataclasses.asdict(result)))
