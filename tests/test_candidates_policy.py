"""AST policy: the hostile corpus's policy-layer cases, the valid corpus, and focused rules."""

from __future__ import annotations

import ast

import pytest

from lesr_local.sandbox.policy import check_policy
from tests.helpers_candidates import hostile_cases, valid_cases

POLICY_CASES = [c for c in hostile_cases() if c.layer == "policy"]
SANDBOX_CASES = [c for c in hostile_cases() if c.layer == "sandbox"]

HEADER = "import numpy as np\n\n"
REWARD = "\n\ndef intrinsic_reward(updated_s):\n    return float(updated_s[-1])\n"


def module(body: str) -> str:
    return HEADER + "def revise_state(s):\n" + body + REWARD


def test_corpus_is_big_enough() -> None:
    assert len(hostile_cases()) >= 30
    assert len(valid_cases()) >= 10


@pytest.mark.parametrize("case", POLICY_CASES, ids=lambda c: c.name)
def test_policy_rejects_hostile_for_the_right_reason(case) -> None:
    reason = check_policy(case.source)
    assert reason is not None, f"{case.name} was accepted"
    assert case.expect in reason
    assert "\n" not in reason


@pytest.mark.parametrize("case", SANDBOX_CASES, ids=lambda c: c.name)
def test_runtime_hostile_cases_pass_the_policy(case) -> None:
    # These are only caught at run time: the corpus proves the sandbox layer, not the policy.
    assert check_policy(case.source) is None


@pytest.mark.parametrize("case", valid_cases(), ids=lambda c: c.name)
def test_policy_accepts_valid_corpus(case) -> None:
    assert check_policy(case.source) is None


@pytest.mark.parametrize("body, expected", [
    ("    return np.lib.format.open_memmap('x')\n", "`np.lib.format.open_memmap` is not an allowed"),
    ("    return np.fromfile('x')\n", "`np.fromfile` is not an allowed"),
    ("    return np.linalg\n", "`np.linalg` is not an allowed"),
    ("    return np.linalg.lapack_lite\n", "`np.linalg.lapack_lite` is not an allowed"),
    ("    return np._core\n", "no underscore attributes"),
    ("    return s.dumps()\n", "`.dumps` is not allowed"),
    ("    return s.data\n", "`.data` is not allowed"),
    ("    return '{x.__class__}'.format_map({'x': s})\n", "`.format_map` is not allowed"),
    ("    return s.__array_interface__\n", "`.__array_interface__` is not allowed"),
    ("    return math.__dict__\n", "no underscore attributes"),
    ("    return math.os\n", "`math.os` is not an allowed math function"),
    ("    np = 1\n    return s\n", "do not assign to `np`"),
    ("    return vars()\n", "`vars` is not allowed"),
    ("    return locals()\n", "`locals` is not allowed"),
    ("    return compile('1', 'x', 'eval')\n", "`compile` is not allowed"),
    ("    return breakpoint()\n", "`breakpoint` is not allowed"),
    ("    return input()\n", "`input` is not allowed"),
    ("    return setattr(s, 'x', 1)\n", "`setattr` is not allowed"),
    ("    return delattr(s, 'x')\n", "`delattr` is not allowed"),
    ("    return dir(s)\n", "`dir` is not allowed"),
    ("    return object()\n", "`object` is not allowed"),
    ("    return (lambda: 0).__code__\n", "`.__code__` is not allowed"),
    ("    x = 0\n    def f():\n        nonlocal x\n    return s\n", "`nonlocal` is not allowed"),
    ("    import numpy\n    return s\n", "`import numpy` is not allowed"),
    ("    import math as m\n    return s\n", "`import math as m` is not allowed"),
    ("    return dict(__builtins__=1)\n", "keyword argument `__builtins__` is not allowed"),
    ("    return np.random\n", "random numbers make features nondeterministic"),
])
def test_focused_rules(body: str, expected: str) -> None:
    reason = check_policy(module(body))
    assert reason is not None and expected in reason, reason


@pytest.mark.parametrize("body", [
    "    return np.concatenate([s, [np.linalg.norm(s)]])\n",
    "    import math\n    return np.append(s, math.sqrt(abs(s[0])))\n",
    "    eps = np.finfo(np.float64).eps\n    return np.hstack([s, [eps]])\n",
    "    x = {'a': s[0]}\n    return np.concatenate([s, [x.get('a', 0.0)]])\n",
    "    out = [v ** 2 for v in s if v > 0]\n    return np.concatenate([s, [len(out)]])\n",
    "    try:\n        v = 1.0 / s[0]\n    except ZeroDivisionError as err:\n        v = 0.0\n"
    "    return np.concatenate([s, [v]])\n",
    "    label = f'{s[0]:.2f}'\n    return np.concatenate([s, [len(label)]])\n",
    "    return np.concatenate([s, [np.pi * s.shape[0], s.T.sum()]])\n",
])
def test_policy_accepts_ordinary_numpy_code(body: str) -> None:
    assert check_policy(module(body)) is None


def test_signature_rules() -> None:
    two_args = HEADER + "def revise_state(s, t):\n    return s\n" + REWARD
    assert "must take exactly one argument" in check_policy(two_args)
    nested = HEADER + "def outer():\n    def revise_state(s):\n        return s\n" + REWARD
    assert "missing function `def revise_state(s):`" in check_policy(nested)
    defaults = HEADER + "def revise_state(s, scale=2.0):\n    return np.concatenate([s, [scale]])\n" + REWARD
    assert check_policy(defaults) is None


def test_size_and_nesting_limits() -> None:
    assert "too long" in check_policy("#" * 30_000)
    # Nesting the parser accepts but the policy's tree walk cannot follow: a clean reason, no crash.
    deep = module("    return " + "-" * 1000 + "s\n")
    ast.parse(deep)  # valid Python, so the reason must come from the nesting check, not the parser
    assert check_policy(deep) == "the code is nested too deeply"
    assert check_policy(module("    return " + "-" * 50 + "s\n")) is None  # ordinary depth passes


def test_type_hints_are_allowed_but_only_as_names() -> None:
    hinted = ("import numpy as np\n\ndef revise_state(s: np.ndarray) -> np.ndarray:\n    x: float = 1.0\n"
              "    return np.append(s, x)\n\ndef intrinsic_reward(updated_s: 'np.ndarray') -> float:\n"
              "    return 0.0\n")
    assert check_policy(hinted) is None
    evil = hinted.replace("-> float:", "-> print(open('x')):")
    assert "type annotations may only name types" in check_policy(evil)
    dunder = hinted.replace("-> float:", "-> np.__class__:")
    assert "not allowed" in check_policy(dunder)


@pytest.mark.parametrize("source", [
    "x = " + "1+" * 9990 + "1", "x = " + "-" * 19990 + "1", "x = s" + "[0]" * 6000,
    "x = " + "f(" * 5000 + ")" * 5000, "x = " + "a." * 9000 + "b", "x = " + "lambda: " * 2400 + "1",
])
def test_pathological_sources_give_a_reason_not_a_crash(source: str) -> None:
    # The policy runs in the engine process: hostile input must never take it down.
    reason = check_policy(source)
    assert reason is not None and "\n" not in reason
