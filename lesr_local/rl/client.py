"""A training in a sandboxed worker process: the engine's side (the worker's body is
`rl/worker.py`, imported only inside the worker, so the engine stays free of torch).

`run_training` starts `sandbox.entry train` (new namespaces, no capabilities), sends it the job as
JSON (and the checkpoint to resume from, streamed in chunks), then reads its messages through the
one sandbox protocol: `walls` (kept as the result's `walls`), `progress`, files (`checkpoint`, `policy`), and one `result` or
`failed`. Every message is validated against `TRAIN_SCHEMA` before it is acted on; files land only
at the paths this process chose for the training (`spec.checkpoint_dir`, `spec.policy_path`).
Whatever goes wrong in the child (an exception, a crash, a kill, a hang, a broken protocol) ends as
a TrainResult with status "failed" and a one-line reason; `cancel` stops the child and returns
"cancelled" (the last checkpoint stays, so a later call resumes from it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
import typing
from collections.abc import Callable
from pathlib import Path

from lesr_local.errors import one_line
from lesr_local.rl.checkpoint import CHECKPOINT, POLICY, checkpoint_path, has_checkpoint
from lesr_local.rl.spec import (
    CANDIDATE_FAILURE,
    TrainProgress,
    TrainResult,
    TrainSpec,
    buffer_rows,
    failed_result,
    spec_to_json,
)
from lesr_local.sandbox.environment import worker_env
from lesr_local.sandbox.protocol import (
    BOOL,
    DICT,
    INT,
    LIST,
    NUM,
    STR,
    FieldSpec,
    Message,
    MessageSpec,
    ProtocolError,
    Schema,
    optional,
)
from lesr_local.sandbox.supervisor import (
    FILE_MESSAGES,
    FileReceiver,
    Worker,
    WorkerEnded,
)

DEFAULT_HANG_SECONDS = 300.0  # no message from the worker for this long => hung
POLICY_MAX_BYTES = 256 * 2**20
_live_lock = threading.Lock()
_live_workers = 0

# numpy's BLAS stays single-threaded in training processes (it only ever sees single states). No
# OMP_WAIT_POLICY here: with several torch threads, idle OpenMP threads must be allowed to spin
# briefly between parallel regions (libgomp's default). PASSIVE made every region pay a futex
# wake-up: one worker with 2 threads measured 81 env steps/s instead of 158 on HalfCheetah.
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1"}


def _fields_of(cls: type) -> dict[str, FieldSpec]:
    """Field specs from a dataclass's annotations, so the schema follows TrainResult/TrainProgress."""
    simple = {int: INT, float: NUM, str: STR, bool: BOOL}
    specs: dict[str, FieldSpec] = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable = type(None) in typing.get_args(hint)
        base = args[0] if nullable and len(args) == 1 else hint
        origin = typing.get_origin(base) or base
        spec = simple.get(origin) or (LIST if origin in (list, tuple) else DICT)
        specs[name] = optional(spec) if nullable else spec
    return specs


def _split(cls: type) -> tuple[dict[str, FieldSpec], dict[str, FieldSpec]]:
    fields = _fields_of(cls)
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    return ({k: v for k, v in fields.items() if k in required},
            {k: v for k, v in fields.items() if k not in required})


_result_required, _result_optional = _split(TrainResult)
_progress_required, _progress_optional = _split(TrainProgress)
TRAIN_SCHEMA = Schema("training worker", {
    "walls": MessageSpec(required={"report": DICT}),
    "progress": MessageSpec(required=_progress_required, optional=_progress_optional),
    "result": MessageSpec(required=_result_required, optional=_result_optional),
    "failed": MessageSpec(required={"reason": STR}, optional={"failure": optional(STR)}),
    **FILE_MESSAGES,
})
JOB_SCHEMA = Schema("engine", {
    "job": MessageSpec(required={"spec": DICT, "concurrent": INT, "wants_checkpoints": BOOL,
                                 "wants_policy": BOOL}),
    "start": MessageSpec(),
    **FILE_MESSAGES,
})
RESULT_STATUSES = ("finished", "failed", "cancelled", "paused")


def run_training(
    spec: TrainSpec, on_progress: Callable[[TrainProgress], None] | None = None,
    cancel: threading.Event | None = None, *, hang_seconds: float = DEFAULT_HANG_SECONDS,
    on_pid: Callable[[int], None] | None = None, command: list[str] | None = None,
) -> TrainResult:
    """Train in a sandboxed subprocess; `on_pid(pid)` is told the worker's pid once it started.

    A checkpoint of this very training in `spec.checkpoint_dir` is resumed (same step count, same RNG
    streams); any other is ignored. So callers keep checkpoint folders apart: the training service
    gives every training its own, `lesr train` a new folder (or `--out DIR`, checked against its
    training.json). `command` replaces the worker's command line (tests use it to speak the protocol
    badly)."""
    global _live_workers
    with _live_lock:
        _live_workers += 1
        concurrent = spec.workers or _live_workers
    started = time.perf_counter()
    try:
        return Supervision(spec, concurrent, on_progress, cancel, hang_seconds, started).run(on_pid, command)
    finally:
        with _live_lock:
            _live_workers -= 1


def checkpoint_max_bytes(spec: TrainSpec) -> int:
    """A generous cap on the checkpoint a worker may send: its buffer rows at 1024 float32 per row
    (far more than any catalogued env needs), plus the networks and headroom."""
    return buffer_rows(spec) * 4 * 1024 + 512 * 2**20


class Supervision:
    """The parent's side of one training: file destinations, message handling and the result. Also
    used by drivers whose worker runs elsewhere (trainings.ray_executor relays its frames here)."""

    def __init__(self, spec: TrainSpec, concurrent: int, on_progress: Callable[[TrainProgress], None] | None,
                 cancel: threading.Event | None, hang_seconds: float, started: float) -> None:
        self.spec, self.concurrent, self.on_progress = spec, concurrent, on_progress
        self.cancel, self.hang_seconds, self.started = cancel, hang_seconds, started
        self.last_step = 0
        self.walls: list[str] = []  # from the worker's `walls` message
        destinations: dict[str, Path] = {}
        if spec.checkpoint_dir is not None:
            destinations[CHECKPOINT] = checkpoint_path(Path(spec.checkpoint_dir))
        if spec.policy_path is not None:
            destinations[POLICY] = Path(spec.policy_path)
        self.files = FileReceiver(destinations, {CHECKPOINT: checkpoint_max_bytes(spec), POLICY: POLICY_MAX_BYTES})

    def run(self, on_pid: Callable[[int], None] | None, command: list[str] | None) -> TrainResult:
        worker = Worker("train", TRAIN_SCHEMA, env=training_env(), command=command, forked=True)
        try:
            if on_pid is not None:
                on_pid(worker.pid)
            with contextlib.suppress(WorkerEnded):  # died before reading its job: the loop reports how
                self._send_job(worker)
            return self._loop(worker)
        finally:
            self.files.abort()
            worker.close()

    def _send_job(self, worker: Worker) -> None:
        spec = dataclasses.replace(self.spec, checkpoint_dir=None, policy_path=None)  # the worker gets no paths
        worker.send("job", spec=spec_to_json(spec), concurrent=self.concurrent,
                    wants_checkpoints=self.spec.checkpoint_dir is not None,
                    wants_policy=self.spec.policy_path is not None)
        if has_checkpoint(self.spec.checkpoint_dir):
            worker.send_file(CHECKPOINT, checkpoint_path(Path(self.spec.checkpoint_dir)))  # type: ignore[arg-type]
        worker.send("start")
        worker.close_input()

    def _loop(self, worker: Worker) -> TrainResult:
        last_message = time.monotonic()
        while True:
            if self.cancel is not None and self.cancel.is_set():
                worker.terminate()
                return self._failed("cancelled", "cancelled")
            try:
                message = worker.next(timeout=0.1)
            except ProtocolError as exc:
                return self._failed("failed", f"training worker broke the protocol: {exc}")
            except WorkerEnded:
                worker.wait(5)
                return self._failed("failed", worker.death_reason("training worker"))
            if message is None:
                if time.monotonic() - last_message > self.hang_seconds:
                    worker.kill()
                    return self._failed("failed", f"training worker hung: no progress for {self.hang_seconds:.0f} s")
                continue
            last_message = time.monotonic()
            try:
                outcome = self._handle(message)
            except ProtocolError as exc:
                worker.kill()
                return self._failed("failed", f"training worker broke the protocol: {exc}")
            if outcome is not None:
                worker.wait(10)
                return outcome

    def _handle(self, message: Message) -> TrainResult | None:
        if self.files.handles(message):
            self.files.handle(message)
        elif message.type == "progress":
            progress = _progress_from(message)
            self.last_step = progress.step
            if self.on_progress is not None:
                self.on_progress(progress)
        elif message.type == "result":
            return self._result_from(message)
        elif message.type == "failed":
            result = self._failed("failed", one_line(message["reason"], 500))
            # only the one cause a worker may name; anything else is the infrastructure's
            result.failure = CANDIDATE_FAILURE if message.get("failure") == CANDIDATE_FAILURE else None
            return result
        elif message.type == "walls":
            self.walls = _walls_from(message)
        return None

    def _result_from(self, message: Message) -> TrainResult:
        fields = {k: v for k, v in message.header.items() if k != "type"}
        if fields["status"] not in RESULT_STATUSES:
            raise ProtocolError(f"training worker sent an unknown status {str(fields['status'])[:20]!r}")
        if fields.get("failure") not in (None, CANDIDATE_FAILURE):
            raise ProtocolError("training worker named an unknown failure cause")
        try:
            fields["curve"] = [(int(step), float(value)) for step, value in fields["curve"]]
            if fields.get("lipschitz") is not None:
                fields["lipschitz"] = [float(x) for x in fields["lipschitz"]]
        except (TypeError, ValueError):
            raise ProtocolError("training worker sent a malformed curve or Lipschitz list") from None
        if fields.get("reason") is not None:
            fields["reason"] = one_line(fields["reason"])
        fields["walls"] = list(self.walls)  # what the walls message said, not what the result claims
        # The policy path is ours: set only if we received and wrote the policy file ourselves.
        written = self.files.written.get(POLICY)
        fields["policy_path"] = str(written) if written is not None else None
        if fields["status"] == "finished" and self.spec.policy_path is not None and written is None:
            raise ProtocolError("training worker finished without sending its policy")
        return TrainResult(**fields)

    def _failed(self, status: str, reason: str) -> TrainResult:
        result = failed_result(status, reason, steps=self.last_step, seconds=time.perf_counter() - self.started)
        result.walls = list(self.walls)
        return result


def _walls_from(message: Message) -> list[str]:
    walls = message["report"].get("walls")
    if not isinstance(walls, list) or len(walls) > 64 or not all(
            isinstance(w, str) and 0 < len(w) <= 64 for w in walls):
        raise ProtocolError("training worker sent a malformed walls report")
    return list(walls)


def _progress_from(message: Message) -> TrainProgress:
    fields = {k: v for k, v in message.header.items() if k != "type"}
    evaluation = fields.get("evaluation")
    if evaluation is not None:
        if len(evaluation) != 2 or not all(isinstance(x, (int, float)) for x in evaluation):
            raise ProtocolError("training worker sent a malformed evaluation")
        fields["evaluation"] = (int(evaluation[0]), float(evaluation[1]))
    return TrainProgress(**fields)


def training_env() -> dict[str, str]:
    """What every training worker starts with: THREAD_ENV's defaults under the variables of this
    process that `sandbox.environment` keeps (never the rest: tokens, keys, passwords)."""
    return worker_env(defaults=THREAD_ENV)

