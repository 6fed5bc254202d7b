"""`lesr bench checkpoint`: peak memory of a training worker and of the engine at a large checkpoint.

A sandboxed training worker builds the real trainer for `--env` (default Humanoid-v5), fills its
replay buffer with `--rows` transitions (random values: the memory is what matters), then takes one
checkpoint exactly as a training does: streamed to this process in chunks, which writes it to a
temporary folder through the same `FileReceiver` as the engine. Reported: the worker's peak RSS
before and after the checkpoint, this process's peak RSS before and after, the file size, and the
time the checkpoint took. The baseline is the worker's own RSS just before the checkpoint (the
buffer and networks it holds anyway), measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import IO, Any, BinaryIO

from lesr_local.errors import BadInput, RunFailed, describe_exception
from lesr_local.rl.checkpoint import CHECKPOINT, checkpoint_path
from lesr_local.rl.spec import TrainSpec
from lesr_local.rl.worker import checkpoint_max_bytes, training_env
from lesr_local.sandbox import protocol
from lesr_local.sandbox.protocol import INT, NUM, STR, MessageSpec, ProtocolError, Schema
from lesr_local.sandbox.supervisor import FILE_MESSAGES, FileReceiver, Worker, WorkerEnded

RESULT_SCHEMA = Schema("checkpoint bench worker", {
    "filled": MessageSpec(required={"rss_mb": NUM, "rows": INT}),
    "result": MessageSpec(required={"rss_before_mb": NUM, "peak_rss_mb": NUM, "seconds": NUM, "bytes": INT}),
    "failed": MessageSpec(required={"reason": STR}),
    **FILE_MESSAGES,
})
JOB_SCHEMA = Schema("engine", {"bench": MessageSpec(required={"env_id": STR, "rows": INT})})


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_checkpoint_bench(args: argparse.Namespace) -> int:
    from lesr_local.commands.common import print_report

    if args.rows < 1:
        raise BadInput("--rows must be at least 1")
    env = training_env()
    spec = TrainSpec(env_id=args.env, steps=args.rows)
    engine_before = _current_mb()
    engine_peak_before = _peak_mb()
    with tempfile.TemporaryDirectory(prefix="lesr-ckpt-bench-") as folder:
        target = checkpoint_path(Path(folder))
        files = FileReceiver({CHECKPOINT: target}, {CHECKPOINT: checkpoint_max_bytes(spec)})
        worker_result: dict[str, Any] | None = None
        filled: dict[str, Any] = {}
        with Worker("checkpoint_bench", RESULT_SCHEMA, env=env) as worker:
            with contextlib.suppress(WorkerEnded):
                worker.send("bench", env_id=args.env, rows=args.rows)
            worker.close_input()
            try:
                while worker_result is None:
                    message = worker.next(timeout=600)
                    if message is None:
                        raise RunFailed("checkpoint bench worker stopped answering")
                    if files.handles(message):
                        files.handle(message)
                    elif message.type == "filled":
                        filled = dict(message.header)
                    elif message.type == "result":
                        worker_result = dict(message.header)
                    else:
                        raise RunFailed(f"checkpoint bench failed: {message['reason']}")
            except (WorkerEnded, ProtocolError) as exc:
                raise RunFailed(f"checkpoint bench failed: {worker.death_reason('worker')} ({exc})") from None
        size = target.stat().st_size
    payload = {
        "env": args.env, "rows": args.rows, "checkpoint_bytes": size,
        "worker_rss_before_checkpoint_mb": round(worker_result["rss_before_mb"], 1),
        "worker_peak_rss_mb": round(worker_result["peak_rss_mb"], 1),
        "worker_checkpoint_overhead_mb": round(worker_result["peak_rss_mb"] - worker_result["rss_before_mb"], 1),
        "engine_rss_before_mb": round(engine_before, 1),
        "engine_peak_rss_before_mb": round(engine_peak_before, 1),
        "engine_peak_rss_after_mb": round(_peak_mb(), 1),
        "engine_checkpoint_overhead_mb": round(_peak_mb() - engine_peak_before, 1),
        "checkpoint_seconds": round(worker_result["seconds"], 2),
        "buffer_filled_rss_mb": round(filled.get("rss_mb", 0.0), 1),
        "baseline": "the worker's RSS just before the checkpoint (its buffer, networks and env), same run",
    }
    print_report(payload, args.json)
    return 0


def serve_checkpoint_bench_stream(stdin: BinaryIO, out: IO[bytes]) -> int:
    """The bench's worker (`sandbox.entry checkpoint_bench`): a real trainer, a full buffer, one checkpoint."""
    try:
        job = protocol.receive(stdin, JOB_SCHEMA)
        if job is None:
            raise ProtocolError("expected a bench job")
        _fill_and_checkpoint(job["env_id"], int(job["rows"]), out)
    except BaseException as exc:  # noqa: BLE001 - one line to the parent
        with contextlib.suppress(OSError):
            protocol.send(out, "failed", reason=describe_exception(exc, 300))
    return 0


def _fill_and_checkpoint(env_id: str, rows: int, out: IO[bytes]) -> None:
    import torch

    from lesr_local.rl.features import Features
    from lesr_local.rl.sandboxing import enter_training_sandbox
    from lesr_local.rl.trainer import Trainer
    from lesr_local.rl.worker import StreamedFiles

    spec = TrainSpec(env_id=env_id, steps=rows, threads=1)
    enter_training_sandbox(spec)
    files = StreamedFiles(out, None, wants_checkpoints=True, wants_policy=False)
    trainer = Trainer(spec, Features(), files=files)
    buffer = trainer.buffer
    generator = torch.Generator().manual_seed(0)
    for start in range(0, rows, 2_000):  # small slices: the fill leaves no large temporary in the peak
        stop = min(rows, start + 2_000)
        buffer.data[start:stop].copy_(torch.rand(stop - start, buffer.width, generator=generator))
    buffer.ptr, buffer.size = rows % buffer.capacity, rows
    trainer.step = rows // 2  # mid-training: a checkpoint is due
    protocol.send(out, "filled", rss_mb=_current_mb(), rows=rows)
    before = _current_mb()
    started = time.perf_counter()
    trainer.last_checkpoint = -spec.checkpoint_every
    trainer._maybe_checkpoint()
    seconds = time.perf_counter() - started
    protocol.send(out, "result", rss_before_mb=before, peak_rss_mb=_peak_mb(), seconds=seconds,
                  bytes=rows * buffer.width * 4)
    trainer.close()
