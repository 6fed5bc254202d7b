"""The candidate-check worker: a subprocess that applies the sandbox limits, loads the candidate and
runs the semantic checks on states sent by the parent.

Protocol: the parent (trusted) writes one pickled `CheckRequest` to stdin; the worker (untrusted once
candidate code ran) answers only with JSON lines on stdout: {"stage": ...} progress marks and one
{"result": {...}} line. The parent never unpickles anything the worker sends.

This module must stay light: it imports numpy and the candidates package only (no torch, no
gymnasium), so one check costs about one Python + numpy start-up.
"""

from __future__ import annotations

import json
import pickle
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lesr_local.candidates.sandbox import CandidateRejected, SandboxLimits, apply_limits, load_candidate
from lesr_local.candidates.semantics import DEFAULT_CALL_BUDGET_MS, CheckResult, semantic_check


@dataclass
class CheckRequest:
    source: str
    states: np.ndarray
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    call_budget_ms: float = DEFAULT_CALL_BUDGET_MS


def _emit(stream: Any, payload: dict[str, Any]) -> None:
    stream.write(json.dumps(payload) + "\n")
    stream.flush()


def serve(request: CheckRequest, out: Any, progress: dict[str, bool]) -> None:
    states = np.asarray(request.states, dtype=np.float64)
    dim = int(states.shape[1])
    report = apply_limits(request.limits)
    _emit(out, {"stage": "limits", "seccomp": report.seccomp, "network_namespace": report.network_namespace,
                "rlimits": report.rlimits, "notes": report.notes})
    _emit(out, {"stage": "load"})
    progress["candidate"] = True  # from here on, a failure is the candidate's
    try:
        funcs = load_candidate(request.source)
    except CandidateRejected as exc:
        _emit(out, {"result": CheckResult(False, str(exc), dim).to_dict()})
        return
    _emit(out, {"stage": "check"})
    result = semantic_check(funcs, states, request.call_budget_ms)
    _emit(out, {"result": result.to_dict()})


def main() -> int:
    out = sys.stdout
    request = pickle.loads(sys.stdin.buffer.read())  # from the trusted parent only
    sys.stdin.close()
    progress = {"candidate": False}
    try:
        serve(request, out, progress)
    except (MemoryError, RecursionError) as exc:
        if not progress["candidate"]:
            raise  # our own failure (e.g. limits too tight to start): exit 1, the parent reports it
        what = "ran out of memory" if isinstance(exc, MemoryError) else "hit the recursion limit"
        _emit(out, {"result": CheckResult(False, f"the candidate {what}",
                                          int(np.shape(request.states)[1])).to_dict()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
