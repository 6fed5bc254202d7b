"""Where trainings run. The loop only sees `Executor`; a distributed engine plugs in behind it later.

`LocalProcessExecutor` runs up to W trainings at once: each is one `rl.run_training` call in a
thread, and every call is itself a sandboxed subprocess (generated code never runs here).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from lesr_local.errors import describe_exception
from lesr_local.procs import cpu_count as usable_cores

if TYPE_CHECKING:
    from lesr_local.rl.spec import TrainProgress, TrainResult, TrainSpec

ProgressCallback = Callable[["TrainProgress"], None]
StartCallback = Callable[[], None]
PidCallback = Callable[[int], None]


class Executor(Protocol):
    workers: int

    def submit(self, spec: TrainSpec, on_progress: ProgressCallback | None, cancel: threading.Event | None,
               on_start: StartCallback | None = None, on_pid: PidCallback | None = None) -> Future[TrainResult]:
        """Queue a training; `on_start` runs when a worker takes it up, `on_pid` with the worker's
        process id once it exists (stored so a person can find it), `on_progress` as it trains."""
        ...

    def close(self) -> None: ...


def default_workers(cpu_count: int | None = None) -> int:
    """One worker per usable core (each worker runs one torch thread), at least one."""
    return max(1, cpu_count if cpu_count is not None else usable_cores())


class LocalProcessExecutor:
    """W concurrent `run_training` calls on this machine."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="lesr-train")

    def submit(self, spec: TrainSpec, on_progress: ProgressCallback | None, cancel: threading.Event | None,
               on_start: StartCallback | None = None, on_pid: PidCallback | None = None) -> Future[TrainResult]:
        return self._pool.submit(_train, spec, on_progress, cancel, on_start, on_pid)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _train(spec: TrainSpec, on_progress: ProgressCallback | None, cancel: threading.Event | None,
           on_start: StartCallback | None, on_pid: PidCallback | None = None) -> TrainResult:
    from lesr_local.rl.spec import failed_result
    from lesr_local.rl.worker import run_training

    started = time.monotonic()
    try:
        if cancel is not None and cancel.is_set():
            return failed_result("cancelled", "cancelled before it started")
        if on_start is not None:
            on_start()
        return run_training(spec, on_progress=on_progress, cancel=cancel, on_pid=on_pid)
    except Exception as exc:  # noqa: BLE001 - a broken worker fails its candidate, not the run
        return failed_result("failed", f"worker error: {describe_exception(exc)}",
                             seconds=time.monotonic() - started)
