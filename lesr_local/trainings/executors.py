"""Where trainings run. The loop only sees `Executor`.

`LocalProcessExecutor` runs up to W trainings at once: each is one `rl.run_training` call in a
thread, and every call is itself a sandboxed subprocess (generated code never runs here).
`trainings.ray_executor.RayExecutor` runs each training as a Ray task on a cluster (`make_executor`).
"""

from __future__ import annotations

import importlib.util
import platform
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from lesr_local.errors import BadInput, describe_exception
from lesr_local.procs import cpu_count as usable_cores
from lesr_local.rl.client import run_training
from lesr_local.rl.spec import failed_result

if TYPE_CHECKING:
    from lesr_local.config import RunConfig
    from lesr_local.rl.spec import TrainProgress, TrainResult, TrainSpec

ProgressCallback = Callable[["TrainProgress"], None]
StartCallback = Callable[[], None]
PidCallback = Callable[[int], None]
NodeCallback = Callable[[str, str], None]  # (node: Ray node id or host name, host name)


class Executor(Protocol):
    workers: int
    name: str  # "local" | "ray": recorded with every training

    def submit(self, spec: TrainSpec, on_progress: ProgressCallback | None, cancel: threading.Event | None,
               on_start: StartCallback | None = None, on_pid: PidCallback | None = None,
               on_node: NodeCallback | None = None) -> Future[TrainResult]:
        """Queue a training; `on_start` runs when a worker takes it up, `on_pid` with the worker's
        process id once it exists (stored so a person can find it), `on_node` with where it runs
        (again after a move to another node), `on_progress` as it trains."""
        ...

    def close(self) -> None: ...


def default_workers(cpu_count: int | None = None) -> int:
    """One worker per usable core (each worker runs one torch thread), at least one."""
    return max(1, cpu_count if cpu_count is not None else usable_cores())


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def check_executor(config: RunConfig) -> None:
    """The quick part of `make_executor`'s refusals (Ray missing, address unreachable), for callers
    that must fail before they open anything (the TUI)."""
    if config.executor != "ray":
        return
    if not ray_installed():
        raise BadInput("--executor ray needs Ray, which is not installed: pip install 'lesr-local[ray]'")
    from lesr_local.trainings import ray_executor  # imports Ray: only for a Ray run

    address = ray_executor.resolve_address(config.ray_address)
    if address != ray_executor.LOCAL:
        ray_executor.check_reachable(address)


def make_executor(config: RunConfig, workers: int) -> Executor:
    """The executor a run's config asks for; BadInput (one line) when it cannot be had."""
    if config.executor != "ray":
        return LocalProcessExecutor(workers)
    check_executor(config)
    from lesr_local.trainings.ray_executor import RayExecutor  # imports Ray: only when asked for

    return RayExecutor(config.ray_address, threads=config.train_threads or 1)


class LocalProcessExecutor:
    """W concurrent `run_training` calls on this machine."""

    name = "local"

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="lesr-train")

    def submit(self, spec: TrainSpec, on_progress: ProgressCallback | None, cancel: threading.Event | None,
               on_start: StartCallback | None = None, on_pid: PidCallback | None = None,
               on_node: NodeCallback | None = None) -> Future[TrainResult]:
        return self._pool.submit(_train, spec, on_progress, cancel, on_start, on_pid, on_node)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _train(spec: TrainSpec, on_progress: ProgressCallback | None, cancel: threading.Event | None,
           on_start: StartCallback | None, on_pid: PidCallback | None = None,
           on_node: NodeCallback | None = None) -> TrainResult:
    started = time.monotonic()
    try:
        if cancel is not None and cancel.is_set():
            return failed_result("cancelled", "cancelled before it started")
        if on_start is not None:
            on_start()
        if on_node is not None:
            host = platform.node()
            on_node(host, host)
        return run_training(spec, on_progress=on_progress, cancel=cancel, on_pid=on_pid)
    except Exception as exc:  # noqa: BLE001 - a broken worker fails its candidate, not the run
        return failed_result("failed", f"worker error: {describe_exception(exc)}",
                             seconds=time.monotonic() - started)
