"""The candidate-check worker: started by `sandbox.entry check`, it applies the sandbox limits, loads
the candidate and runs the semantic checks on the states the parent sent.

Protocol (`sandbox.protocol`, no pickle either way): the parent sends one `check` message (source,
limits, budget; the states as raw float64 bytes in the payload); the worker answers with `stage`
marks (limits, load, check) and one `result`, or `refused` when the sandbox walls candidate code needs
are not up (`sandbox.limits.SandboxRefused`; nothing of the candidate ran). The parent validates each one against CHECK_SCHEMA.

This module must stay light: numpy and the candidates package only (no torch, no gymnasium), so one
check costs about one Python + numpy start-up.
"""

from __future__ import annotations

from typing import IO, Any, BinaryIO

import numpy as np

from lesr_local.candidates.semantics import CheckResult, semantic_check
from lesr_local.sandbox import protocol
from lesr_local.sandbox.limits import SandboxLimits, SandboxRefused, apply_limits
from lesr_local.sandbox.protocol import (
    BOOL,
    DICT,
    INT,
    NUM,
    STR,
    MessageSpec,
    ProtocolError,
    Schema,
    optional,
)
from lesr_local.sandbox.restricted import CandidateRejected, load_candidate

MAX_STATES_BYTES = 64 * 2**20
REQUEST_SCHEMA = Schema("engine", {
    "check": MessageSpec(required={"source": STR, "limits": DICT, "call_budget_ms": NUM, "rows": INT, "cols": INT},
                         max_payload=MAX_STATES_BYTES),
}, max_string=200_000)
CHECK_SCHEMA = Schema("check worker", {
    "stage": MessageSpec(required={"stage": STR}, optional={"report": DICT}),
    "refused": MessageSpec(required={"reason": STR}),
    "result": MessageSpec(required={"valid": BOOL, "state_dim": INT},
                          optional={"reason": optional(STR), "feature_dim": optional(INT),
                                    "extra_dims": optional(INT), "mean_call_ms": optional(NUM)}),
})


def serve_stream(stdin: BinaryIO, out: IO[bytes]) -> int:
    request = protocol.receive(stdin, REQUEST_SCHEMA)  # from the trusted parent
    if request is None:
        raise ProtocolError("expected a check request")
    rows, cols = int(request["rows"]), int(request["cols"])
    states = np.frombuffer(request.payload, dtype="<f8", count=rows * cols).reshape(rows, cols)
    progress = {"candidate": False}
    try:
        _serve(request["source"], states, SandboxLimits.from_json(request["limits"]),
               float(request["call_budget_ms"]), out, progress)
    except (MemoryError, RecursionError) as exc:
        if not progress["candidate"]:
            raise  # our own failure (e.g. limits too tight to start): exit 1, the parent reports it
        what = "ran out of memory" if isinstance(exc, MemoryError) else "hit the recursion limit"
        _result(out, CheckResult(False, f"the candidate {what}", cols))
    return 0


def _serve(source: str, states: np.ndarray, limits: SandboxLimits, budget_ms: float, out: IO[bytes],
           progress: dict[str, bool]) -> None:
    report = apply_limits(limits)
    protocol.send(out, "stage", stage="limits", report=report.to_json())
    protocol.send(out, "stage", stage="load")
    progress["candidate"] = True  # from here on, a failure is the candidate's
    try:
        funcs = load_candidate(source)
    except SandboxRefused as exc:  # not the candidate's fault: the machine's
        protocol.send(out, "refused", reason=str(exc))
        return
    except CandidateRejected as exc:
        _result(out, CheckResult(False, str(exc), int(states.shape[1])))
        return
    protocol.send(out, "stage", stage="check")
    _result(out, semantic_check(funcs, states, budget_ms))


def _result(out: IO[bytes], result: CheckResult) -> None:
    fields: dict[str, Any] = result.to_dict()
    protocol.send(out, "result", **fields)
