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
from pathlib import Path
from typing import Any

from lesr_local.errors import BadInput, RunFailed
from lesr_local.output import print_report
from lesr_local.rl.checkpoint import CHECKPOINT, checkpoint_path
from lesr_local.rl.client import checkpoint_max_bytes, training_env
from lesr_local.rl.spec import TrainSpec
from lesr_local.sandbox.protocol import INT, NUM, STR, MessageSpec, ProtocolError, Schema
from lesr_local.sandbox.supervisor import FILE_MESSAGES, FileReceiver, Worker, WorkerEnded

RESULT_SCHEMA = Schema("checkpoint bench worker", {
    "filled": MessageSpec(required={"rss_mb": NUM, "rows": INT}),
    "result": MessageSpec(required={"rss_before_mb": NUM, "peak_rss_mb": NUM, "seconds": NUM, "bytes": INT}),
    "failed": MessageSpec(required={"reason": STR}),
    **FILE_MESSAGES,
})
JOB_SCHEMA = Schema("engine", {"bench": MessageSpec(required={"env_id": STR, "rows": INT})})


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_checkpoint_bench(args: argparse.Namespace) -> int:
    if args.rows < 1:
        raise BadInput("--rows must be at least 1")
    env = training_env()
    spec = TrainSpec(env_id=args.env, steps=args.rows)
    engine_before = current_mb()
    engine_peak_before = peak_mb()
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
        "engine_peak_rss_after_mb": round(peak_mb(), 1),
        "engine_checkpoint_overhead_mb": round(peak_mb() - engine_peak_before, 1),
        "checkpoint_seconds": round(worker_result["seconds"], 2),
        "buffer_filled_rss_mb": round(filled.get("rss_mb", 0.0), 1),
        "baseline": "the worker's RSS just before the checkpoint (its buffer, networks and env), same run",
    }
    print_report(payload, args.json)
    return 0
