"""Engine-side candidate checks: the AST policy in-process, everything else in a sandboxed worker.

`check_candidate(source, env_id)` never executes candidate code in this process: it samples real
states from short random rollouts of the env (data, safe to pass on), then runs `candidates.worker`
through `sandbox.entry` (namespaces, limits, seccomp) and kills it past the wall-clock limit. Where
the worker's seccomp filter cannot go up, the check raises `SandboxRefused` (unless the caller passes
the user's `unsafe_no_seccomp` opt-out): a machine's missing wall is no verdict on the candidate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import signal
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lesr_local.candidates.semantics import DEFAULT_CALL_BUDGET_MS, CheckResult, semantic_check
from lesr_local.candidates.worker import CHECK_SCHEMA
from lesr_local.envs.check_states import spread_states
from lesr_local.errors import LesrError, one_line
from lesr_local.sandbox.environment import worker_env
from lesr_local.sandbox.limits import SandboxLimits, SandboxRefused
from lesr_local.sandbox.policy import check_policy
from lesr_local.sandbox.protocol import ProtocolError
from lesr_local.sandbox.supervisor import Worker, WorkerEnded

__all__ = ["CheckResult", "check_candidate", "check_source_on_states", "semantic_check", "CHECK_STATES"]

CHECK_STATES = 64  # states each candidate is checked on: resets of 4 episodes + 60 spread over 4 x 300 steps
# One thread each: a check sees 64 states. (PYTHON* settings would be ignored: workers run `python -I`.)
_CHECK_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def check_candidate(source: str, env_id: str, env_spec: str | None = None, *,
                    limits: SandboxLimits | None = None, call_budget_ms: float = DEFAULT_CALL_BUDGET_MS,
                    unsafe_no_seccomp: bool = False) -> CheckResult:
    """Policy + semantic checks of `source` on real states of `env_id` (a sandboxed subprocess)."""
    states = env_states(env_id, env_spec)
    return check_source_on_states(source, states, limits=limits, call_budget_ms=call_budget_ms,
                                  unsafe_no_seccomp=unsafe_no_seccomp)


@functools.lru_cache(maxsize=8)
def _cached_states(env_id: str, env_spec: str | None, n: int, seed: int) -> np.ndarray:
    states, _ = spread_states(env_id, n, seed=seed, env_spec=env_spec)
    states = np.asarray(states, dtype=np.float64)
    states.setflags(write=False)
    return states


def env_states(env_id: str, env_spec: str | None = None, n: int = CHECK_STATES, seed: int = 0) -> np.ndarray:
    """Reset states of several episodes plus states spread over random rollouts of a few hundred
    steps (envs.check_states.spread_states), cached per env."""
    return _cached_states(env_id, env_spec, n, seed)


def default_check_limits() -> SandboxLimits:
    """The limits of a check worker unless the caller passes others."""
    return SandboxLimits()


def check_source_on_states(source: str, states: np.ndarray, *, limits: SandboxLimits | None = None,
                           call_budget_ms: float = DEFAULT_CALL_BUDGET_MS,
                           unsafe_no_seccomp: bool = False) -> CheckResult:
    """Check `source` on `states` (n x D): the policy here, the rest in a sandboxed worker.
    Raises SandboxRefused where the worker's seccomp filter is not up and `unsafe_no_seccomp` is False."""
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[0] == 0:
        raise LesrError(f"check states must be a non-empty 2-D array, got shape {states.shape}")
    dim = int(states.shape[1])
    reason = check_policy(source)
    if reason is not None:
        return CheckResult(False, reason, dim)
    limits = dataclasses.replace(limits or default_check_limits(), unsafe_no_seccomp=unsafe_no_seccomp)
    return _run_worker(source, states, limits, call_budget_ms)


PROBE_CANDIDATE = ("import numpy as np\n\ndef revise_state(s):\n    return np.concatenate([s, [1.0]])\n\n"
                   "def intrinsic_reward(updated_s):\n    return 0.0\n")


def sandbox_walls() -> dict[str, Any]:
    """Which walls a real check worker has up on this machine (`lesr doctor`), as its report says,
    whether it loaded a harmless candidate (`probe_valid`), and why it refused to (`refused`)."""
    walls: dict[str, Any] = {"refused": None}
    states = np.zeros((2, 3))
    try:
        result = _run_worker(PROBE_CANDIDATE, states, default_check_limits(), DEFAULT_CALL_BUDGET_MS,
                             on_walls=walls.update)
    except SandboxRefused as exc:
        walls.update(refused=str(exc), probe_valid=False)
        return walls
    walls["probe_valid"] = result.valid
    return walls


def _run_worker(source: str, states: np.ndarray, limits: SandboxLimits, call_budget_ms: float,
                on_walls: Callable[[dict[str, Any]], None] | None = None) -> CheckResult:
    dim = int(states.shape[1])
    stages: list[str] = []
    result: CheckResult | None = None
    refused: str | None = None
    timed_out = broken = False
    with (tempfile.TemporaryDirectory(prefix="lesr-check-") as workdir,
          Worker("check", CHECK_SCHEMA, env=worker_env(forced=_CHECK_THREADS), cwd=workdir) as worker):
        with contextlib.suppress(WorkerEnded):
            worker.send("check", np.ascontiguousarray(states, dtype="<f8").tobytes(), source=source,
                        limits=limits.to_json(), call_budget_ms=call_budget_ms, rows=int(states.shape[0]),
                        cols=dim)
        worker.close_input()
        deadline = time.monotonic() + limits.wall_seconds
        while result is None and refused is None:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                worker.kill()
                break
            try:
                message = worker.next(timeout=min(left, 0.5))
            except WorkerEnded:
                break
            except ProtocolError:
                broken = True
                break
            if message is None:
                continue
            if message.type == "stage":
                stages.append(message["stage"])
                if on_walls is not None and message.get("report") is not None:
                    on_walls(message["report"])
            elif message.type == "refused":
                refused = one_line(message["reason"], 500)
            else:
                result = _result_from(message.header)
        returncode = worker.wait(5)
        stderr = "\n".join(worker.stderr_tail)
    if refused is not None:
        raise SandboxRefused(refused)
    if result is not None:
        return result
    stage = stages[-1] if stages else None
    if broken:
        return CheckResult(False, "the sandbox worker broke the protocol", dim)
    if stage is None or stage == "limits" and not timed_out and returncode not in _CANDIDATE_SIGNALS:
        tail = stderr.strip().splitlines()
        raise LesrError(f"candidate check worker failed (exit {returncode}): {tail[-1] if tail else 'no output'}")
    doing = "loading the module" if stage in ("limits", "load") else "running revise_state / intrinsic_reward"
    if timed_out:
        reason = f"timed out after {limits.wall_seconds:g} s while {doing} (an infinite loop?)"
    elif returncode == -signal.SIGXCPU or returncode == -signal.SIGKILL:
        reason = f"exceeded the CPU time limit ({limits.cpu_seconds} s) while {doing} (an infinite loop?)"
    elif returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        reason = f"crashed the sandbox ({name}) while {doing}"
    elif "MemoryError" in stderr:
        reason = f"ran out of memory while {doing}"
    elif "RecursionError" in stderr:
        reason = f"hit the recursion limit while {doing}"
    else:
        reason = f"the sandbox stopped (exit {returncode}) while {doing}"
    return CheckResult(False, reason, dim)


_CANDIDATE_SIGNALS = {-signal.SIGXCPU, -signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS}


def _result_from(data: dict) -> CheckResult:
    def opt_int(key: str) -> int | None:
        value = data.get(key)
        return int(value) if isinstance(value, (int, float)) else None

    mean = data.get("mean_call_ms")
    reason = data.get("reason")
    return CheckResult(
        valid=bool(data.get("valid")), reason=str(reason)[:500] if reason is not None else None,
        state_dim=int(data.get("state_dim") or 0), feature_dim=opt_int("feature_dim"),
        extra_dims=opt_int("extra_dims"), mean_call_ms=float(mean) if isinstance(mean, (int, float)) else None,
    )
