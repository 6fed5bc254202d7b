"""semantic_check as the training worker uses it: trusted test functions, the same rules."""

from __future__ import annotations

import numpy as np
import pytest

from lesr_local.candidates.semantics import semantic_check
from lesr_local.sandbox.restricted import CandidateFunctions

STATES = np.random.default_rng(0).normal(size=(32, 5))


def _funcs(revise, reward=lambda u: float(u[-1]) * 0.1) -> CandidateFunctions:
    return CandidateFunctions(revise_state=revise, intrinsic_reward=reward)


def test_accepts_and_measures() -> None:
    result = semantic_check(_funcs(lambda s: np.concatenate([s, [s.sum(), s[0] ** 2]])), STATES)
    assert result.valid and result.reason is None
    assert (result.state_dim, result.feature_dim, result.extra_dims) == (5, 7, 2)
    assert result.mean_call_ms is not None and result.mean_call_ms > 0


def test_float32_source_within_tolerance_is_accepted() -> None:
    result = semantic_check(_funcs(lambda s: np.concatenate([s.astype(np.float32), [1.0]])), STATES)
    assert result.valid, result.reason


def test_numpy_scalar_and_one_element_array_rewards() -> None:
    assert semantic_check(_funcs(lambda s: np.append(s, 1.0), lambda u: np.float32(u[-1])), STATES).valid
    assert semantic_check(_funcs(lambda s: np.append(s, 1.0), lambda u: u[-1:]), STATES).valid


@pytest.mark.parametrize("revise, reward, expected", [
    (lambda s: np.append(s, 1.0), lambda u: True, "must return a float, got bool"),
    (lambda s: np.append(s, 1.0), lambda u: "1.0", "must return a float, got str"),
    (lambda s: np.append(s, 1.0), lambda u: -101.0, "outside [-100, 100]"),
    (lambda s: np.append(s, 1.0), lambda u: float("nan"), "non-finite"),
    (lambda s: np.stack([s, s]), lambda u: 0.0, "1-D"),
    (lambda s: np.array([str(v) for v in s] + ["x"]), lambda u: 0.0, "flat array of numbers"),
    (lambda s: None, lambda u: 0.0, "got NoneType"),
    (lambda s: np.append(s[::-1], 1.0), lambda u: 0.0, "entry 0 differs"),
    (lambda s: np.append(s, np.inf), lambda u: 0.0, "index 5"),
    (lambda s: np.append(s, 1.0 / 0.0), lambda u: 0.0, "revise_state raised ZeroDivisionError"),
])
def test_rules(revise, reward, expected: str) -> None:
    result = semantic_check(_funcs(revise, reward), STATES)
    assert not result.valid and expected in result.reason, result.reason


def test_order_dependent_state_is_caught() -> None:
    seen: list[float] = []

    def revise(s):
        seen.append(float(s[0]))
        return np.append(s, float(len(seen)))  # depends on how many calls came before

    result = semantic_check(_funcs(revise), STATES)
    assert not result.valid and "not deterministic" in result.reason


def test_budget() -> None:
    def slow(s):
        total = 0.0
        for _ in range(3000):
            total += 1.0
        return np.append(s, total)

    result = semantic_check(_funcs(slow, lambda u: 0.0), STATES, call_budget_ms=0.001)
    assert not result.valid and "too slow" in result.reason and "budget 0.001 ms" in result.reason


def test_budget_counts_cpu_time_not_waiting() -> None:
    """A busy machine makes a call wait, not work: 20 ms of waiting per call stays within a 10 ms budget.

    A wall clock would read 20 ms per call, twice the budget. The wait is long and the budget loose
    because some kernels (sandboxed CI runners) charge a thread about a millisecond of CPU per wake-up.
    """
    import time

    def waits(s):
        time.sleep(0.02)
        return np.append(s, 1.0)

    result = semantic_check(_funcs(waits, lambda u: 0.0), STATES[:8], call_budget_ms=10.0)
    assert result.valid, result.reason
    assert result.mean_call_ms is not None


def test_bad_states_argument() -> None:
    with pytest.raises(ValueError):
        semantic_check(_funcs(lambda s: s), np.zeros(3))


def test_reasons_carry_fix_hints() -> None:
    result = semantic_check(_funcs(lambda s: np.concatenate([s, np.abs(s[0])])), STATES)
    assert "wrap single numbers in a list" in result.reason
    result = semantic_check(_funcs(lambda s: np.append(s, 1.0), lambda u: float(u[40])), STATES)
    assert "IndexError" in result.reason and "has 6 entries, indices 0..5" in result.reason
