"""Semantic checks of loaded candidate functions on real states (runs INSIDE a sandboxed worker).

`semantic_check(funcs, states)` is what the check worker runs after `load_candidate`, on real states
of the env, before any training of the candidate starts (the search and `lesr train` both ask it).
The training worker does not run it again: it loads the code with `load_candidate` and guards each
call while training (lesr_local.rl.features). The rules: deterministic; revise_state returns a 1-D finite float array whose first D entries equal the input
state, with at least one extra dim and the same length on every state; it must not modify its
input; intrinsic_reward returns a finite float in [-100, 100]; the mean time of one
revise_state + intrinsic_reward call stays under a budget.

The time is the CPU time of the calling thread (time.thread_time), not wall time: trainings and the
LLM share the cores with the check, and on a loaded machine a wall clock would reject a candidate
that an idle one accepts. CPU time counts only the work the calls themselves do (Python and numpy,
whose BLAS runs in this thread with one BLAS thread in the check worker).
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from lesr_local.errors import describe_exception
from lesr_local.sandbox.restricted import CandidateFunctions

REWARD_BOUND = 100.0
DEFAULT_CALL_BUDGET_MS = 1.0
STATE_RTOL = 1e-5
STATE_ATOL = 1e-6


@dataclass
class CheckResult:
    valid: bool
    reason: str | None
    state_dim: int
    feature_dim: int | None = None  # len(revise_state(s))
    extra_dims: int | None = None  # feature_dim - state_dim
    mean_call_ms: float | None = None  # one revise_state + intrinsic_reward call

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid, "reason": self.reason, "state_dim": self.state_dim,
            "feature_dim": self.feature_dim, "extra_dims": self.extra_dims,
            "mean_call_ms": self.mean_call_ms,
        }


class SemanticError(Exception):
    """A rule was broken; the message is the one-line reason."""


def semantic_check(funcs: CandidateFunctions, states: np.ndarray,
                   call_budget_ms: float = DEFAULT_CALL_BUDGET_MS) -> CheckResult:
    """Apply every semantic rule to `funcs` on `states` (n x D, float64)."""
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[0] == 0:
        raise ValueError("states must be a non-empty (n, D) array")
    dim = int(states.shape[1])
    try:
        features, rewards = _pass(funcs, states, dim, order=range(len(states)), expected_len=None)
        feature_dim = int(features.shape[1])
        start = time.thread_time()  # CPU time: independent of the machine's load (see the module doc)
        again_f, again_r = _pass(funcs, states, dim, order=range(len(states) - 1, -1, -1),
                                 expected_len=feature_dim)
        elapsed = time.thread_time() - start
    except SemanticError as exc:
        return CheckResult(False, str(exc), dim)
    if not (np.array_equal(features, again_f) and np.array_equal(rewards, again_r)):
        which = "revise_state" if not np.array_equal(features, again_f) else "intrinsic_reward"
        return CheckResult(
            False, f"{which} is not deterministic: calling it again on the same state gave a different "
                   "result (no randomness, no state kept between calls)", dim, feature_dim,
            feature_dim - dim,
        )
    mean_ms = 1000.0 * elapsed / len(states)
    result = CheckResult(True, None, dim, feature_dim, feature_dim - dim, round(mean_ms, 4))
    if mean_ms > call_budget_ms:
        result.valid = False
        result.reason = (f"too slow: revise_state + intrinsic_reward take {mean_ms:.2f} ms per state "
                         f"(budget {call_budget_ms:g} ms); use vectorised numpy and no long loops")
    return result


def _pass(funcs: CandidateFunctions, states: np.ndarray, dim: int, order: range,
          expected_len: int | None) -> tuple[np.ndarray, np.ndarray]:
    features: list[np.ndarray | None] = [None] * len(states)
    rewards = np.zeros(len(states))
    for i in order:
        original = states[i]
        s = original.copy()
        out = _call("revise_state", funcs.revise_state, s)
        if not np.array_equal(s, original):
            raise SemanticError("revise_state modified its input state in place; work on a copy")
        vec = _as_vector(out, original)
        if expected_len is None:
            expected_len = len(vec)
        elif len(vec) != expected_len:
            raise SemanticError(f"revise_state returned length {expected_len} for one state and "
                                f"{len(vec)} for another; the length must be the same for every state")
        features[i] = vec
        updated = vec.copy()
        reward = _call("intrinsic_reward", funcs.intrinsic_reward, updated)
        rewards[i] = _as_reward(reward)
    return np.stack(features), rewards  # type: ignore[arg-type]


def _call(name: str, func: Any, arg: np.ndarray) -> Any:
    try:
        return func(arg)
    except RecursionError:
        raise SemanticError(f"{name} hit the recursion limit (unbounded recursion)") from None
    except MemoryError:
        raise SemanticError(f"{name} ran out of memory") from None
    except Exception as exc:  # noqa: BLE001 - hostile code: any failure is a reason
        raise SemanticError(f"{name} raised {describe_exception(exc)}{_hint(exc, len(arg))}") from None


def _hint(exc: Exception, length: int) -> str:
    """A fix suggestion for the mistakes LLMs make most, so a repair can act on the reason."""
    text = str(exc)
    if "same number of dimensions" in text or "zero-dimensional arrays cannot be concatenated" in text:
        return " (wrap single numbers in a list: np.concatenate([s, [feature]]))"
    if "out of bounds" in text or "index out of range" in text:
        return f" (the array passed in has {length} entries, indices 0..{length - 1})"
    return ""


def _as_vector(out: Any, state: np.ndarray) -> np.ndarray:
    dim = len(state)
    if not isinstance(out, (np.ndarray, list, tuple)):
        raise SemanticError(f"revise_state must return a numpy array, got {type(out).__name__}")
    try:
        vec = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise SemanticError("revise_state must return a flat array of numbers") from None
    if vec.ndim != 1:
        raise SemanticError(f"revise_state must return a 1-D array, got shape {tuple(vec.shape)}; "
                            "use np.concatenate([s, extra]) with 1-D pieces")
    if len(vec) <= dim:
        raise SemanticError(f"revise_state returned {len(vec)} values but the state has {dim}: return "
                            "the source state followed by at least one extra dim")
    bad = np.flatnonzero(~np.isfinite(vec))
    if bad.size:
        raise SemanticError(f"revise_state returned a non-finite value (NaN or inf) at index {int(bad[0])}; "
                            "guard divisions and logs")
    if not np.allclose(vec[:dim], state, rtol=STATE_RTOL, atol=STATE_ATOL):
        index = int(np.flatnonzero(~np.isclose(vec[:dim], state, rtol=STATE_RTOL, atol=STATE_ATOL))[0])
        raise SemanticError(f"the first {dim} entries of revise_state(s) must be s itself, unchanged "
                            f"(entry {index} differs); return np.concatenate([s, extra_features])")
    return vec


def _as_reward(value: Any) -> float:
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise SemanticError(f"intrinsic_reward must return one number, got an array of shape "
                                f"{tuple(value.shape)}")
        value = value.reshape(-1)[0]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise SemanticError(f"intrinsic_reward must return a float, got {type(value).__name__}")
    reward = float(value)
    if not np.isfinite(reward):
        raise SemanticError("intrinsic_reward returned a non-finite value (NaN or inf)")
    if abs(reward) > REWARD_BOUND:
        raise SemanticError(f"intrinsic_reward returned {reward:.4g}, outside [-{REWARD_BOUND:g}, "
                            f"{REWARD_BOUND:g}]; scale it down")
    return reward
