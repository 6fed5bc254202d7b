"""The state representation a training uses: identity (baseline) or a candidate's F and G.

Each call is guarded: an exception or a malformed result becomes a `CandidateError` whose message is
the one-line reason the training fails with, e.g.
"revise_state raised ValueError at step 1234: math domain error".

The check before training sees 64 states; a candidate must keep the same rules on every state the
training meets, so `RuntimeChecks` enforces them on every call (or, for the cheap-to-skip one, on a
random sample of calls the candidate cannot predict): G(F(s)) stays inside [-REWARD_BOUND, REWARD_BOUND], the first D entries of F(s)
equal s, no NaN or inf, and F + G stay under a CPU-time budget averaged over a window of calls (a
candidate that turns slow on later states would otherwise stretch a training many times over).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lesr_local.errors import one_line

REWARD_BOUND = 100.0  # the same bound the semantic check applies
SOURCE_RTOL, SOURCE_ATOL = 1e-5, 1e-6
SOURCE_CHECK_FIRST = 200  # compare F(s)[:D] with s on the first calls ...
SOURCE_CHECK_RATE = 1 / 50  # ... then on each later call with this probability
CALL_WINDOW = 1000  # calls per CPU-time window
CALL_BUDGET_MS = 2.0  # mean CPU ms of one F + G call over a window (the check's budget is 1 ms)


class CandidateError(Exception):
    """The candidate's code failed during training; str() is the one-line reason."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


def _raised(function: str, exc: BaseException, where: str) -> CandidateError:
    text = one_line(exc, 200)
    detail = f": {text}" if text else ""
    return CandidateError(f"{function} raised {type(exc).__name__} {where}{detail}")


@dataclass
class RuntimeChecks:
    """The candidate rules enforced during training, with the CPU time of F + G over a window."""

    reward_bound: float = REWARD_BOUND
    call_budget_ms: float = CALL_BUDGET_MS
    window: int = CALL_WINDOW
    window_calls: int = 0
    window_cpu_s: float = 0.0
    # Which later calls get the source check: drawn from a generator seeded by the OS, never from
    # anything candidate code sees, so code that counts its calls cannot tell which ones are looked
    # at (a fixed "every 50th call" could be dodged by altering s on all the others).
    sampler: random.Random = field(default_factory=lambda: random.Random(os.urandom(16)), repr=False,
                                   compare=False)

    def checks_source(self, call: int) -> bool:
        """Whether call number `call` (1-based) compares F(s)[:D] with s."""
        return call <= SOURCE_CHECK_FIRST or self.sampler.random() < SOURCE_CHECK_RATE

    def charge(self, cpu_seconds: float) -> None:
        self.window_cpu_s += cpu_seconds

    def end_call(self, where: str) -> None:
        self.window_calls += 1
        if self.window_calls < self.window:
            return
        mean_ms = 1000.0 * self.window_cpu_s / self.window_calls
        self.window_calls, self.window_cpu_s = 0, 0.0
        if mean_ms > self.call_budget_ms:
            raise CandidateError(
                f"revise_state + intrinsic_reward took {mean_ms:.2f} ms of CPU per call over the last "
                f"{self.window} calls {where} (budget {self.call_budget_ms:g} ms)")


@dataclass
class Features:
    """F (revise_state) and G (intrinsic_reward); both None for the raw-state baseline."""

    revise_state: Callable[[np.ndarray], object] | None = None
    intrinsic_reward: Callable[[np.ndarray], object] | None = None
    feature_dim: int | None = None  # fixed by the first call
    calls: int = 0  # revise_state calls made (training and evaluation)
    checks: RuntimeChecks | None = field(default_factory=RuntimeChecks)  # None: trust the code (bench)

    @property
    def is_candidate(self) -> bool:
        return self.revise_state is not None

    def transform(self, state: np.ndarray, where: str) -> np.ndarray:
        """F(state) as a finite float64 vector of a constant length; `where` names the step in errors."""
        self.calls += 1
        if self.revise_state is None:
            out = np.asarray(state, dtype=np.float64)
        else:
            started = time.thread_time() if self.checks is not None else 0.0
            try:
                raw = self.revise_state(np.array(state, dtype=np.float64, copy=True))
                out = np.asarray(raw, dtype=np.float64).reshape(-1)
            except Exception as exc:  # noqa: BLE001 - any candidate failure fails the training
                raise _raised("revise_state", exc, where) from None
            if not np.all(np.isfinite(out)):
                bad = int(np.flatnonzero(~np.isfinite(out))[0])
                raise CandidateError(f"revise_state returned {out[bad]} at index {bad} {where}")
            if self.checks is not None:
                self.checks.charge(time.thread_time() - started)
                self._check_source(np.asarray(state, dtype=np.float64), out, where)
                self.checks.end_call(where)
        if self.feature_dim is None:
            self.feature_dim = int(out.shape[0])
        elif out.shape[0] != self.feature_dim:
            raise CandidateError(
                f"revise_state returned {out.shape[0]} values {where} (earlier {self.feature_dim})")
        return out

    def intrinsic(self, features: np.ndarray, where: str) -> float:
        """G(F(s)); 0 for the baseline."""
        if self.intrinsic_reward is None:
            return 0.0
        started = time.thread_time() if self.checks is not None else 0.0
        try:
            value = float(np.asarray(self.intrinsic_reward(features.copy()), dtype=np.float64).reshape(()))
        except Exception as exc:  # noqa: BLE001
            raise _raised("intrinsic_reward", exc, where) from None
        if not np.isfinite(value):
            raise CandidateError(f"intrinsic_reward returned {value} {where}")
        if self.checks is not None:
            self.checks.charge(time.thread_time() - started)
            bound = self.checks.reward_bound
            if abs(value) > bound:
                raise CandidateError(f"intrinsic_reward returned {value:.6g} {where}, outside "
                                     f"[-{bound:g}, {bound:g}]")
        return value

    def _check_source(self, state: np.ndarray, out: np.ndarray, where: str) -> None:
        """F(s)[:D] must be s: on the first calls, then on a random sample of them."""
        if self.checks is None or not self.checks.checks_source(self.calls):
            return
        dim = state.shape[0]
        if out.shape[0] <= dim:
            raise CandidateError(f"revise_state returned {out.shape[0]} values {where}; the state has {dim} "
                                 "and at least one extra dim must follow it")
        close = np.isclose(out[:dim], state, rtol=SOURCE_RTOL, atol=SOURCE_ATOL)
        if not close.all():
            index = int(np.flatnonzero(~close)[0])
            raise CandidateError(f"revise_state changed source dim {index} {where} "
                                 f"({state[index]:.6g} became {out[index]:.6g})")
