"""Engine-side candidate checks: the AST policy in-process, everything else in a sandboxed worker.

`check_candidate(source, env_id)` never executes candidate code in this process: it samples real
states from short random rollouts of the env (data, safe to pass on), then runs `candidates.worker`
in a subprocess with resource limits, and kills it past the wall-clock limit.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from lesr_local.candidates.policy import check_policy
from lesr_local.candidates.sandbox import SandboxLimits
from lesr_local.candidates.semantics import DEFAULT_CALL_BUDGET_MS, CheckResult, semantic_check
from lesr_local.candidates.worker import CheckRequest
from lesr_local.errors import LesrError

__all__ = ["CheckResult", "check_candidate", "check_source_on_states", "semantic_check", "CHECK_STATES"]

CHECK_STATES = 64  # states each candidate is checked on: resets of 4 episodes + 60 spread over 4 x 300 steps
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from lesr_local.candidates.worker import main; raise SystemExit(main())"
)
_WORKER_ENV = {
    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
}


def check_candidate(source: str, env_id: str, env_spec: str | None = None, *,
                    limits: SandboxLimits | None = None,
                    call_budget_ms: float = DEFAULT_CALL_BUDGET_MS) -> CheckResult:
    """Policy + semantic checks of `source` on real states of `env_id` (a sandboxed subprocess)."""
    states = env_states(env_id, env_spec)
    return check_source_on_states(source, states, limits=limits, call_budget_ms=call_budget_ms)


@functools.lru_cache(maxsize=8)
def _cached_states(env_id: str, env_spec: str | None, n: int, seed: int) -> np.ndarray:
    # gymnasium: imported only when states are needed
    from lesr_local.envs.check_states import spread_states

    states, _ = spread_states(env_id, n, seed=seed, env_spec=env_spec)
    states = np.asarray(states, dtype=np.float64)
    states.setflags(write=False)
    return states


def env_states(env_id: str, env_spec: str | None = None, n: int = CHECK_STATES, seed: int = 0) -> np.ndarray:
    """Reset states of several episodes plus states spread over random rollouts of a few hundred
    steps (envs.check_states.spread_states), cached per env."""
    return _cached_states(env_id, env_spec, n, seed)


def check_source_on_states(source: str, states: np.ndarray, *, limits: SandboxLimits | None = None,
                           call_budget_ms: float = DEFAULT_CALL_BUDGET_MS) -> CheckResult:
    """Check `source` on `states` (n x D): the policy here, the rest in a sandboxed worker."""
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[0] == 0:
        raise LesrError(f"check states must be a non-empty 2-D array, got shape {states.shape}")
    dim = int(states.shape[1])
    reason = check_policy(source)
    if reason is not None:
        return CheckResult(False, reason, dim)
    limits = limits or SandboxLimits()
    request = CheckRequest(source=source, states=np.array(states), limits=limits,
                           call_budget_ms=call_budget_ms)
    return _run_worker(request, dim)


def _run_worker(request: CheckRequest, dim: int) -> CheckResult:
    limits = request.limits
    with tempfile.TemporaryDirectory(prefix="lesr-check-") as workdir:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOTSTRAP.format(root=_PACKAGE_ROOT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=workdir,
            env=_WORKER_ENV, start_new_session=True,
        )
        timed_out = False
        try:
            stdout, stderr = proc.communicate(pickle.dumps(request), timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            stdout, stderr = proc.communicate()
    stages, result = _parse(stdout)
    if result is not None:
        return result
    stage = stages[-1] if stages else None
    if stage is None or stage == "limits" and not timed_out and proc.returncode not in _CANDIDATE_SIGNALS:
        tail = stderr.decode("utf-8", "replace").strip().splitlines()
        raise LesrError(f"candidate check worker failed (exit {proc.returncode}): "
                        f"{tail[-1] if tail else 'no output'}")
    doing = "loading the module" if stage in ("limits", "load") else "running revise_state / intrinsic_reward"
    if timed_out:
        reason = f"timed out after {limits.wall_seconds:g} s while {doing} (an infinite loop?)"
    elif proc.returncode == -signal.SIGXCPU or proc.returncode == -signal.SIGKILL:
        reason = f"exceeded the CPU time limit ({limits.cpu_seconds} s) while {doing} (an infinite loop?)"
    elif proc.returncode is not None and proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        reason = f"crashed the sandbox ({name}) while {doing}"
    else:
        text = stderr.decode("utf-8", "replace")
        if "MemoryError" in text:
            reason = f"ran out of memory while {doing}"
        elif "RecursionError" in text:
            reason = f"hit the recursion limit while {doing}"
        else:
            reason = f"the sandbox stopped (exit {proc.returncode}) while {doing}"
    return CheckResult(False, reason, dim)


_CANDIDATE_SIGNALS = {-signal.SIGXCPU, -signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS}


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _parse(stdout: bytes) -> tuple[list[str], CheckResult | None]:
    stages: list[str] = []
    for line in stdout.decode("utf-8", "replace").splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(message, dict):
            continue
        if "stage" in message:
            stages.append(str(message["stage"]))
        elif isinstance(message.get("result"), dict):
            return stages, _result_from(message["result"])
    return stages, None


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
