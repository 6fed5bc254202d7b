"""A training worker run on behalf of a remote driver: its messages relayed as protocol frames.

On a cluster node (`trainings.ray_executor`) the process that took the training is not the engine: it
starts the same sandboxed `sandbox.entry train` child as `rl.client.run_training` does, feeds it the
job and the checkpoint bytes the driver sent, and passes every validated message on as one encoded
frame, which the driver validates again and acts on (progress, files at its own paths, the result).
The node never writes a checkpoint or a policy to its own disk. Whatever ends the child early (a
crash, a hang, a broken frame) becomes one final `failed` frame, so the driver always gets an end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from lesr_local.rl.checkpoint import CHECKPOINT
from lesr_local.rl.client import DEFAULT_HANG_SECONDS, TRAIN_SCHEMA, training_env
from lesr_local.rl.spec import TrainSpec, spec_to_json
from lesr_local.sandbox import protocol
from lesr_local.sandbox.protocol import INT, STR, MessageSpec, ProtocolError, Schema
from lesr_local.sandbox.supervisor import Worker, WorkerEnded

# What a driver reads from a relay: the training worker's messages plus one `placed` frame first.
RELAY_SCHEMA = Schema("relayed training worker", {
    **TRAIN_SCHEMA.messages,
    "placed": MessageSpec(required={"node": STR, "host": STR, "pid": INT, "relay_pid": INT}),
})


@dataclasses.dataclass(frozen=True)
class CheckpointStream:
    """The checkpoint a resubmitted training resumes from, as chunks: the driver never holds it whole,
    and no single object of it has to fit a cluster's object store."""

    size: int
    sha256: str
    chunks: Iterable[bytes | memoryview]  # at most protocol.CHUNK_BYTES each, in order


@dataclasses.dataclass(frozen=True)
class RelayJob:
    """What the driver sends: the spec without paths, and what it wants back."""

    spec: dict[str, Any]
    wants_checkpoints: bool
    wants_policy: bool
    hang_seconds: float = DEFAULT_HANG_SECONDS

    @classmethod
    def of(cls, spec: TrainSpec, hang_seconds: float = DEFAULT_HANG_SECONDS) -> RelayJob:
        bare = dataclasses.replace(spec, checkpoint_dir=None, policy_path=None)  # nodes get no paths
        return cls(spec=spec_to_json(bare), wants_checkpoints=spec.checkpoint_dir is not None,
                   wants_policy=spec.policy_path is not None, hang_seconds=hang_seconds)


def relay_training(job: RelayJob, node: str, host: str, checkpoint: CheckpointStream | None = None) -> Iterator[bytes]:
    """Run the sandboxed training worker here and yield its messages as frames (RELAY_SCHEMA)."""
    worker = Worker("train", TRAIN_SCHEMA, env=training_env())
    try:  # closing the generator (the task ended or was cancelled) kills the child
        yield protocol.encode("placed", node=node, host=host, pid=worker.pid, relay_pid=os.getpid())
        with contextlib.suppress(WorkerEnded):  # died before reading its job: the loop reports how
            _send_job(worker, job, checkpoint)
        yield from _relay(worker, job.hang_seconds)
    finally:
        worker.close()


def _send_job(worker: Worker, job: RelayJob, checkpoint: CheckpointStream | None) -> None:
    # `concurrent` only matters when spec.threads is 0; the driver always sets it for remote trainings.
    worker.send("job", spec=job.spec, concurrent=1, wants_checkpoints=job.wants_checkpoints,
                wants_policy=job.wants_policy)
    if checkpoint is not None:
        worker.send("file_begin", file=CHECKPOINT, size=checkpoint.size)
        for chunk in checkpoint.chunks:  # one chunk in memory at a time; the child checks size and sha256
            worker.send("file_chunk", chunk)
        worker.send("file_end", sha256=checkpoint.sha256)
    worker.send("start")
    worker.close_input()


def _relay(worker: Worker, hang_seconds: float) -> Iterator[bytes]:
    last_message = time.monotonic()
    while True:
        try:
            message = worker.next(timeout=0.5)
        except ProtocolError as exc:
            yield _failed(f"training worker broke the protocol: {exc}")
            return
        except WorkerEnded:
            worker.wait(5)
            yield _failed(worker.death_reason("training worker"))
            return
        if message is None:
            if time.monotonic() - last_message > hang_seconds:
                worker.kill()
                yield _failed(f"training worker hung: no progress for {hang_seconds:.0f} s")
                return
            continue
        last_message = time.monotonic()
        fields = {k: v for k, v in message.header.items() if k != "type"}
        yield protocol.encode(message.type, message.payload, **fields) + message.payload  # encode gives the head
        if message.type in ("result", "failed"):
            worker.wait(10)
            return


def _failed(reason: str) -> bytes:
    return protocol.encode("failed", reason=reason)
