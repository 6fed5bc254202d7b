"""The training worker's body, started by `sandbox.entry train` in new namespaces with no
capabilities: read the job (and the checkpoint to resume from), import torch and the env, put up the
sandbox walls (rlimits, seccomp), load the candidate through the restricted loader, train, and
stream progress, checkpoints, the policy and the result back through the sandbox protocol.

Only the worker imports this module (torch loads here); the engine's side is `rl/client.py`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import resource
from collections.abc import Callable
from typing import IO, Any, BinaryIO

import torch

from lesr_local.errors import describe_exception
from lesr_local.procs import threads_per_worker
from lesr_local.rl.client import JOB_SCHEMA
from lesr_local.rl.device import configure_threads, resolve_device
from lesr_local.rl.features import Features, RuntimeChecks
from lesr_local.rl.numerics import numerics_of
from lesr_local.rl.sandboxing import enter_training_sandbox
from lesr_local.rl.spec import CANDIDATE_FAILURE, TrainProgress, TrainResult, TrainSpec, spec_from_json
from lesr_local.rl.trainer import train as train_td3
from lesr_local.sandbox import protocol
from lesr_local.sandbox.limits import SandboxRefused
from lesr_local.sandbox.protocol import Message, ProtocolError
from lesr_local.sandbox.restricted import CandidateRejected, load_candidate
from lesr_local.sandbox.supervisor import receive_file, send_file_chunks
from lesr_local.sandbox.tensorfile import TensorFile, TensorFileError, unpack


class StreamedFiles:
    """The worker's `TrainingFiles`: checkpoints and the policy go to the parent, by kind only."""

    def __init__(self, out: IO[bytes], checkpoint: bytearray | None, wants_checkpoints: bool,
                 wants_policy: bool) -> None:
        self.out = out
        self._checkpoint = checkpoint
        self.wants_checkpoints = wants_checkpoints
        self.wants_policy = wants_policy

    def load_checkpoint(self) -> dict[str, Any] | None:
        if self._checkpoint is None:
            return None
        data, self._checkpoint = self._checkpoint, None
        try:
            return unpack(data)
        except TensorFileError:
            return None  # unreadable: start afresh, as for a checkpoint of another layout

    def save(self, kind: str, file: TensorFile) -> None:
        send_file_chunks(self.out, kind, file.chunks(), file.size)


def training_numerics(spec: TrainSpec) -> str:
    """What this training's floating point depends on (trainings/keys.py): torch, device, CPU."""
    return numerics_of(resolve_device(spec.device).type, torch.__version__)


def serve_stream(stdin: BinaryIO, out: IO[bytes]) -> int:
    """The training worker (started by `sandbox.entry`): read the job, train, report."""
    try:
        job, checkpoint = _read_job(stdin)
        spec = spec_from_json(job["spec"])
    except (ProtocolError, ValueError, TypeError) as exc:
        _send(out, "failed", reason=f"training worker could not read its job: {exc}")
        return 1
    try:
        _train_in_sandbox(spec, int(job["concurrent"]), out,
                          StreamedFiles(out, checkpoint, job["wants_checkpoints"], job["wants_policy"]))
    except MemoryError:
        _send(out, "failed", reason="training worker ran out of memory (sandbox limit)")
    except BaseException as exc:  # noqa: BLE001 - the parent must always get a one-line reason
        _send(out, "failed", reason=f"training worker error: {describe_exception(exc, 300)}")
    return 0


def _read_job(stdin: BinaryIO) -> tuple[Message, bytearray | None]:
    job = protocol.receive(stdin, JOB_SCHEMA)
    if job is None or job.type != "job":
        raise ProtocolError("expected a job")
    checkpoint: bytearray | None = None
    message = protocol.receive(stdin, JOB_SCHEMA)
    if message is not None and message.type == "file_begin":
        checkpoint = receive_file(stdin, JOB_SCHEMA, message)
        message = protocol.receive(stdin, JOB_SCHEMA)
    if message is None or message.type != "start":
        raise ProtocolError("expected start")
    return job, checkpoint


def _send(out: IO[bytes], type_: str, **fields: Any) -> None:
    with contextlib.suppress(OSError):  # the parent is gone: nothing to report to
        protocol.send(out, type_, **fields)


def _train_in_sandbox(spec: TrainSpec, concurrent: int, out: IO[bytes], files: StreamedFiles) -> None:
    configure_threads(threads_per_worker(spec.threads, concurrent))
    train: Callable[..., TrainResult] = train_td3
    if spec.algo != "td3":
        # stable-baselines3 is imported only by the trainings that use it (it adds about a second to
        # every worker's start), and it loads and runs once before the sandbox walls go up.
        from lesr_local.rl.sb3_trainer import train_sb3, warm_up

        warm_up(spec)
        train = train_sb3
    numerics = training_numerics(spec)  # read before the walls go up (torch and /proc/cpuinfo)
    report = enter_training_sandbox(spec)
    _send(out, "walls", report=report.to_json())
    checks = RuntimeChecks() if spec.runtime_checks else None
    features = Features(checks=checks)
    if spec.candidate_source is not None:
        try:
            functions = load_candidate(spec.candidate_source)
        except SandboxRefused as exc:  # the machine's walls, not the candidate: nothing of it ran
            _send(out, "failed", reason=str(exc))
            return
        except CandidateRejected as exc:
            _send(out, "failed", reason=f"candidate rejected: {exc}", failure=CANDIDATE_FAILURE)
            return
        features = Features(functions.revise_state, functions.intrinsic_reward, checks=checks)

    def emit(progress: TrainProgress) -> None:
        _send(out, "progress", **dataclasses.asdict(progress))

    result = train(spec, features, emit, files=files)
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result.numerics = numerics
    _send(out, "result", **dataclasses.asdict(result))
