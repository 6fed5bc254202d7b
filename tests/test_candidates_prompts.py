"""Prompts: what each carries, the code priming, and fitting the history into the context."""

from __future__ import annotations

import re

import pytest

from lesr_local.candidates.extract import extract_code
from lesr_local.candidates.prompts import (
    CANDIDATE_CODE_PREFIX,
    ROBOT_GUIDANCE,
    CandidateFeedback,
    feedback_prompt,
    focus_prompt,
    initial_prompt,
    iteration_prompt,
    repair_prompt,
)
from lesr_local.envs import get_env_info
from lesr_local.sandbox.policy import check_policy

CODE = ("import numpy as np\n\ndef revise_state(s):\n    return np.concatenate([s, [s[8] * {k}]])\n\n"
        "def intrinsic_reward(updated_s):\n    return float(updated_s[17])\n")


def _feedback(i: int, iteration: int, score: float | None, status: str = "finished") -> CandidateFeedback:
    return CandidateFeedback(
        candidate_id=f"i{iteration}-k{i}", iteration=iteration, code=CODE.format(k=i + 1),
        score=score, lipschitz=[0.01 * d for d in range(18)] if status == "finished" else None,
        status=status, reason=None if status == "finished" else "revise_state raised IndexError: x",
    )


@pytest.fixture(scope="module")
def cheetah():
    return get_env_info("HalfCheetah-v5")


def test_initial_prompt_carries_task_dims_and_contract(cheetah) -> None:
    text = initial_prompt(cheetah)
    assert cheetah.task in text
    for dim in cheetah.dims:
        assert f"s[{dim.index}]: {dim.description}" in text
        assert f"[{dim.unit}]" in text
    assert "D = 17" in text and "updated_s[17:]" in text
    assert "def revise_state(s):" in text and "def intrinsic_reward(updated_s):" in text
    assert "np.concatenate([s, extra])" in text and "[-100, 100]" in text
    assert "import numpy as np" in text and ROBOT_GUIDANCE not in text


@pytest.mark.parametrize("env_id", ["AntMaze_OpenDense-v5", "FetchPushDense-v4", "AdroitHandDoor-v1"])
def test_robotics_tasks_get_body_first_guidance(env_id: str) -> None:
    info = get_env_info(env_id)
    text = initial_prompt(info)
    assert ROBOT_GUIDANCE in text
    assert "first" in ROBOT_GUIDANCE and "second" in ROBOT_GUIDANCE
    assert f"D = {info.state_dim}" in text


def test_code_prefix_primes_a_valid_module() -> None:
    # What the model continues: the prefix ends inside revise_state; the extractor re-attaches it.
    assert CANDIDATE_CODE_PREFIX.endswith("def revise_state(s):\n")
    reply = ("    return np.concatenate([s, [np.abs(s[0])]])\n\n\ndef intrinsic_reward(updated_s):\n"
             "    return float(updated_s[-1])\n```")
    code = extract_code(reply, CANDIDATE_CODE_PREFIX)
    assert code is not None and check_policy(code) is None


def test_feedback_prompt_has_code_scores_lipschitz_and_asks_for_analysis(cheetah) -> None:
    results = [_feedback(0, 1, 1500.25), _feedback(1, 1, None, status="failed")]
    text = feedback_prompt(cheetah, results, baseline_score=1200.0)
    assert CODE.format(k=1).strip() in text
    assert "score 1500.2" in text or "score 1500.3" in text
    assert "1200.0" in text
    assert "new feature updated_s[17]: 0.17" in text
    assert "s[8] x velocity" in text
    assert "i1-k1 (iteration 1): failed: revise_state raised IndexError" in text
    assert "Analyse" in text and "without code" in text


def test_iteration_prompt_keeps_everything_when_it_fits(cheetah) -> None:
    history = [_feedback(i, it, 100.0 * it + i) for it in (1, 2) for i in range(3)]
    text, dropped = iteration_prompt(cheetah, history, "- velocity features helped", lambda p: True)
    assert dropped == []
    assert "- velocity features helped" in text
    for h in history:
        assert h.candidate_id in text
    assert "(best so far)" in text and text.index("i2-k2") < text.index("i1-k0")
    assert "def revise_state(s):" in text and "left out" not in text


def test_iteration_prompt_drops_oldest_non_best_first(cheetah) -> None:
    history = [_feedback(0, 1, 900.0), _feedback(1, 1, 100.0), _feedback(2, 1, None, "rejected"),
               _feedback(0, 2, 200.0), _feedback(1, 2, 300.0)]
    full, _ = iteration_prompt(cheetah, history, "analysis", lambda p: True)
    budget = len(full) - 600  # room for about three fewer candidates
    text, dropped = iteration_prompt(cheetah, history, "analysis", lambda p: len(p) <= budget)
    assert len(text) <= budget
    assert dropped[0] == "i1-k2"  # the rejected one goes first
    assert "i1-k0" not in dropped  # the best is kept
    assert dropped == ["i1-k2", "i1-k1", "i2-k0"][: len(dropped)]
    assert "i2-k1" in text and "i1-k0" in text  # best and most recent survive
    assert f"{len(dropped)} older candidate(s) left out" in text
    for cid in dropped:
        assert f"### Candidate {cid} " not in text


def test_iteration_prompt_shortens_the_analysis_last(cheetah) -> None:
    history = [_feedback(0, 1, 10.0)]
    analysis = "- point\n" * 400
    text, dropped = iteration_prompt(cheetah, history, analysis, lambda p: len(p) < 6000)
    assert dropped == [] and len(text) < 6000 and "i1-k0" in text


def test_repair_prompt_carries_reason_and_code() -> None:
    text = repair_prompt("ORIGINAL", CODE.format(k=1), "revise_state returned 17 values")
    assert text.startswith("ORIGINAL")
    assert "Reason: revise_state returned 17 values" in text and "np.concatenate" in text
    assert "no Python code block was found" in repair_prompt("P", None, "no code found")


def test_focus_prompt_gives_each_sample_its_own_start_and_keeps_the_shared_prefix(cheetah) -> None:
    base = initial_prompt(cheetah)
    prompts = [focus_prompt(base, cheetah, 0, k, seed=0) for k in range(6)]
    assert len(set(prompts)) == 6  # each sample gets its own pair of dims
    assert prompts[2] == focus_prompt(base, cheetah, 0, 2, seed=0)  # resume asks the same question
    assert prompts[2] != focus_prompt(base, cheetah, 0, 2, seed=1)
    for text in prompts:
        assert text.startswith(base)  # the shared prompt is untouched: its KV cache is reused
        tail = text[len(base):]
        a, b = (int(x) for x in re.findall(r"s\[(\d+)\]", tail)[:2])
        assert a != b and 0 <= a < cheetah.state_dim and 0 <= b < cheetah.state_dim
        # One short sentence: everything after the shared prefix is evaluated again for each sample.
        assert tail == f"\nThis time start from s[{a}] and s[{b}]."
