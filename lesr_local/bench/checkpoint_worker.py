"""The worker body of `lesr bench checkpoint` (`sandbox.entry checkpoint_bench`): a real trainer in
the training sandbox, a replay buffer filled to `rows`, and one checkpoint streamed to the parent
exactly as a training streams it. Only that worker imports this module.
"""

from __future__ import annotations

import contextlib
import time
from typing import IO, BinaryIO

import torch

from lesr_local.bench.checkpoint_bench import JOB_SCHEMA, current_mb, peak_mb
from lesr_local.errors import describe_exception
from lesr_local.rl.features import Features
from lesr_local.rl.sandboxing import enter_training_sandbox
from lesr_local.rl.spec import TrainSpec
from lesr_local.rl.trainer import Trainer
from lesr_local.rl.worker import StreamedFiles
from lesr_local.sandbox import protocol
from lesr_local.sandbox.protocol import ProtocolError


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
    protocol.send(out, "filled", rss_mb=current_mb(), rows=rows)
    before = current_mb()
    started = time.perf_counter()
    trainer.last_checkpoint = -spec.checkpoint_every
    trainer._maybe_checkpoint()
    seconds = time.perf_counter() - started
    protocol.send(out, "result", rss_before_mb=before, peak_rss_mb=peak_mb(), seconds=seconds,
                  bytes=rows * buffer.width * 4)
    trainer.close()
