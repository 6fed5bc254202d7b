"""Trainings on a Ray cluster: each one Ray task that runs the sandboxed training worker on its node.

Ray places and queues the tasks (no scheduler of our own): a task asks for `num_cpus` = the
training's torch threads. On the node, the task is a streaming generator (`rl.relay`) that starts
the same `sandbox.entry train` child as a local training and yields its messages as protocol
frames; candidate code never runs in the Ray worker process, which Ray reuses for later tasks. The
driver validates every frame again and handles it exactly like a local training's (`rl.client`):
progress events, checkpoint and policy bytes written by its own `FileReceiver` at the run-folder
paths it chose, then the result. A node's disk is never trusted to keep anything.

A task lost with its worker or its node (any Ray error other than our own code failing) is
submitted again with the last checkpoint the driver holds, so the training continues where that
checkpoint left it (TrainResult.resumed_from). Cancel force-cancels the task: Ray kills its worker
process, and the training child, which dies with its parent, goes with it.

Ray usage statistics and the dashboard stay off in every Ray start lesr-local makes (air-gapped).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import platform
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError, RayTaskError

from lesr_local.errors import BadInput
from lesr_local.procs import cpu_count
from lesr_local.rl.checkpoint import checkpoint_path, has_checkpoint
from lesr_local.rl.client import DEFAULT_HANG_SECONDS, Supervision
from lesr_local.rl.relay import RELAY_SCHEMA, CheckpointStream, RelayJob, relay_training
from lesr_local.rl.spec import TrainProgress, TrainResult, TrainSpec, failed_result
from lesr_local.sandbox import protocol
from lesr_local.sandbox.protocol import ProtocolError
from lesr_local.trainings.ray_auth import ClusterAuth

LOCAL = "local"  # --ray-address local: a private cluster on this machine for the run
MAX_RESUBMITS = 3
BACKPRESSURE_FRAMES = 16
WARM_UP_SECONDS = 30.0  # a training whose task is lost more often than this fails
LOCAL_OBJECT_STORE_BYTES = 1 << 30
# A private cluster advertises a loopback address: Ray maps 127.0.0.1 itself to the machine's
# routable IP, but leaves the rest of 127.0.0.0/8 alone, so nothing of the run leaves loopback.
PRIVATE_NODE_IP = "127.0.0.2"
# Environment for every Ray process lesr-local starts or talks to: no usage reports, no dashboard.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_USAGE_STATS_PROMPT_ENABLED": "0"}

ProgressCallback = Callable[[TrainProgress], None]


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    host: str
    cpus: float
    alive: bool


def set_ray_env() -> None:
    os.environ.update(RAY_ENV)


def resolve_address(address: str | None) -> str:
    """--ray-address, else RAY_ADDRESS, else a private local cluster."""
    return address or os.environ.get("RAY_ADDRESS") or LOCAL


# One Ray connection per process, shared by the runs of this process that use the same address
# (the TUI can drive several runs at once); the last one to leave disconnects (or stops it).
_connection_lock = threading.Lock()


@dataclass
class _Connection:
    address: str | None = None
    users: int = 0
    auth: ClusterAuth | None = None


_connection = _Connection()


def connect(address: str | None, *, num_cpus: int | None = None) -> None:
    """Join this process's connection to the cluster at `address` (a private local one for
    "local"), making it first. BadInput (one line) when it cannot be reached, or when this process
    is already connected elsewhere. Pair with `disconnect()`."""
    set_ray_env()
    address = resolve_address(address)
    with _connection_lock:
        if _connection.users:
            if _connection.address != address:
                raise BadInput(f"this process already runs on the Ray cluster {_connection.address}; "
                               f"one process uses one cluster (asked for {address})")
            _connection.users += 1
            return
        if ray.is_initialized():
            ray.shutdown()
        if address != LOCAL:
            check_reachable(address)  # before any setting changes: a typo costs nothing
        auth = ClusterAuth(private=address == LOCAL)
        auth.apply()
        try:
            _init(address, num_cpus, auth)
        except BaseException:
            auth.restore()
            raise
        _connection.address, _connection.users, _connection.auth = address, 1, auth


def disconnect() -> None:
    with _connection_lock:
        _connection.users = max(0, _connection.users - 1)
        if not _connection.users:
            _connection.address = None
            ray.shutdown()  # stops a private cluster; only disconnects from a shared one
            if _connection.auth is not None:
                _connection.auth.restore()
                _connection.auth = None


def _init(address: str, num_cpus: int | None, auth: ClusterAuth) -> None:
    if address == LOCAL:
        ray.init(address="local", num_cpus=num_cpus or cpu_count(), include_dashboard=False,
                 log_to_driver=False, logging_level="ERROR", object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                 _node_ip_address=PRIVATE_NODE_IP)
        return
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; the user gets one line
        raise BadInput(auth.refusal(address, _one_line(exc))) from None


def check_reachable(address: str) -> None:
    """A quick TCP look first: ray.init would retry an unreachable address for a long time."""
    if address == "auto":
        return
    if address.startswith("ray://"):
        raise BadInput(f"Ray Client addresses ({address}) are not supported; give the head's HOST:PORT")
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise BadInput(f"--ray-address {address!r}: expected HOST:PORT (the head's GCS port), 'auto' or 'local'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=3.0).close()
    except OSError as exc:
        raise BadInput(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def cluster_nodes() -> list[NodeInfo]:
    """The nodes of the connected cluster, with their CPUs."""
    return [NodeInfo(node_id=n["NodeID"], host=n.get("NodeManagerHostname") or n.get("NodeManagerAddress", "?"),
                     cpus=float(n.get("Resources", {}).get("CPU", 0.0)), alive=bool(n.get("Alive")))
            for n in ray.nodes()]


@ray.remote(max_retries=0)
def _warm_up() -> None:
    """Nothing: run once per CPU slot at connect, so Ray starts its worker processes (and they import
    this module) before the first training is submitted, not while it waits."""


@ray.remote(max_retries=0)
def _train_task(job: RelayJob, checkpoint: tuple[int, str, list[Any]] | None):  # noqa: ANN201 - a generator task
    node = ray.get_runtime_context().get_node_id()
    stream = None
    if checkpoint is not None:
        size, sha256, refs = checkpoint
        stream = CheckpointStream(size, sha256, (ray.get(ref) for ref in refs))  # fetched one chunk at a time
    yield from relay_training(job, node=node, host=platform.node(), checkpoint=stream)


def checkpoint_chunks(path: Path) -> Iterator[bytes]:
    """The file in protocol-sized chunks, read one at a time."""
    with open(path, "rb") as fh:
        while chunk := fh.read(protocol.CHUNK_BYTES):
            yield chunk


def put_checkpoint(path: Path) -> tuple[int, str, list[Any]]:
    """Each chunk of the checkpoint as its own object in the cluster's store (size, sha256, refs):
    this process holds one chunk at a time, and Ray can spill chunks to disk one by one."""
    digest = hashlib.sha256()
    refs = []
    size = 0
    for chunk in checkpoint_chunks(path):
        digest.update(chunk)
        size += len(chunk)
        refs.append(ray.put(chunk))
    return size, digest.hexdigest(), refs


class RayExecutor:
    """Trainings as Ray tasks on the cluster at `address` ("local": a private one for this run)."""

    name = "ray"

    def __init__(self, address: str | None = None, threads: int = 1,
                 hang_seconds: float = DEFAULT_HANG_SECONDS) -> None:
        self.address = resolve_address(address)
        self.threads = max(1, threads)
        self.hang_seconds = hang_seconds
        connect(self.address)
        try:
            nodes = [n for n in cluster_nodes() if n.alive]
            largest = max((n.cpus for n in nodes), default=0.0)
            if largest < self.threads:
                raise BadInput(f"the Ray cluster at {self.address} has at most {largest:g} CPUs on a node; "
                               f"one training needs {self.threads}")
        except BaseException:
            disconnect()
            raise
        self.nodes = nodes
        # Trainings that can run at once: what the engine plans with; Ray queues the rest.
        self.workers = max(1, sum(int(n.cpus // self.threads) for n in nodes))
        self._warm_up_workers()
        self._pool = ThreadPoolExecutor(max_workers=max(8, 2 * self.workers), thread_name_prefix="lesr-ray")
        self._closed = False

    def _warm_up_workers(self) -> None:
        refs = [_warm_up.options(num_cpus=self.threads).remote() for _ in range(min(self.workers, 64))]
        _, late = ray.wait(refs, num_returns=len(refs), timeout=WARM_UP_SECONDS)
        for ref in late:  # a busy shared cluster: no reason to wait for its slots
            ray.cancel(ref, force=True)

    def submit(self, spec: TrainSpec, on_progress: ProgressCallback | None, cancel: threading.Event | None,
               on_start: Callable[[], None] | None = None, on_pid: Callable[[int], None] | None = None,
               on_node: Callable[[str, str], None] | None = None) -> Future[TrainResult]:
        spec = dataclasses.replace(spec, threads=spec.threads or self.threads, workers=1)
        training = _RayTraining(spec, self.threads, self.hang_seconds, on_progress, cancel or threading.Event(),
                                on_start, on_pid, on_node)
        return self._pool.submit(training.run)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            disconnect()


class _RayTraining:
    """One training's driver side, across resubmissions."""

    def __init__(self, spec: TrainSpec, num_cpus: int, hang_seconds: float, on_progress: ProgressCallback | None,
                 cancel: threading.Event, on_start: Callable[[], None] | None, on_pid: Callable[[int], None] | None,
                 on_node: Callable[[str, str], None] | None) -> None:
        self.spec, self.num_cpus, self.hang_seconds, self.cancel = spec, num_cpus, hang_seconds, cancel
        self.on_start, self.on_pid, self.on_node = on_start, on_pid, on_node
        self.started = time.perf_counter()
        self.supervision = Supervision(spec, 1, on_progress, cancel, hang_seconds, self.started)
        self.placed = False

    def run(self) -> TrainResult:
        losses: list[str] = []
        try:
            while True:
                if self.cancel.is_set():
                    return self.supervision._failed("cancelled", "cancelled")
                outcome = self._attempt()
                if isinstance(outcome, TrainResult):
                    return outcome
                self.supervision.files.abort()  # a half-received file from the lost task
                losses.append(outcome)
                if len(losses) > MAX_RESUBMITS:
                    return self.supervision._failed(
                        "failed", f"Ray task lost {len(losses)} times, last: {losses[-1]}")
        except Exception as exc:  # noqa: BLE001 - a broken driver fails its candidate, not the run
            return failed_result("failed", f"ray executor error: {type(exc).__name__}: {_one_line(exc)}",
                                 steps=self.supervision.last_step, seconds=time.perf_counter() - self.started)
        finally:
            self.supervision.files.abort()

    def _attempt(self) -> TrainResult | str:
        """Run one task to its end: a result, or a string saying why the task was lost."""
        checkpoint = None
        if has_checkpoint(self.spec.checkpoint_dir):
            checkpoint = put_checkpoint(checkpoint_path(Path(self.spec.checkpoint_dir)))  # type: ignore[arg-type]
        job = RelayJob.of(self.spec, self.hang_seconds)
        # backpressure: the task stops yielding while this many frames (at most 4 MiB each) wait for us
        stream = _train_task.options(num_cpus=self.num_cpus,
                                     _generator_backpressure_num_objects=BACKPRESSURE_FRAMES).remote(job, checkpoint)
        try:
            while True:
                if self.cancel.is_set():
                    ray.cancel(stream, force=True)
                    return self.supervision._failed("cancelled", "cancelled")
                ready, _ = ray.wait([stream], timeout=0.2)
                if not ready:
                    continue
                try:
                    ref = next(stream)
                except StopIteration:
                    return "the task ended without a result"
                try:
                    frame = ray.get(ref)
                except RayTaskError as exc:  # our own task code raised: not a lost node
                    return self.supervision._failed("failed", f"Ray training task failed: {_one_line(exc)}")
                except RayError as exc:
                    return f"{type(exc).__name__}: {_one_line(exc)}"
                outcome = self._handle(frame)
                if outcome is not None:
                    return outcome
        except ProtocolError as exc:
            ray.cancel(stream, force=True)
            return self.supervision._failed("failed", f"training worker broke the protocol: {exc}")
        finally:
            del stream, checkpoint  # the chunk objects go with the last reference

    def _handle(self, frame: object) -> TrainResult | None:
        if not isinstance(frame, bytes):
            raise ProtocolError(f"Ray training task sent a {type(frame).__name__}, not a frame")
        message = protocol.receive(io.BytesIO(frame), RELAY_SCHEMA)
        if message is None:
            raise ProtocolError("Ray training task sent an empty frame")
        if message.type == "placed":
            if self.on_node is not None:
                self.on_node(message["node"], message["host"])
            if self.on_pid is not None:
                self.on_pid(message["pid"])
            if not self.placed and self.on_start is not None:
                self.on_start()
            self.placed = True
            return None
        return self.supervision._handle(message)


def _one_line(exc: object) -> str:
    return " ".join(str(exc).split())[:300]

