"""The repair loop: re-ask with the one-line reason, bounded retries, cancellation.

The loop logic is tested with a replay client (fixed replies, so every branch is deterministic) and the
real candidate checker; the slow test runs it against the real default model through LLMClient.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from lesr_local.candidates.checks import check_source_on_states
from lesr_local.candidates.prompts import CANDIDATE_CODE_PREFIX, initial_prompt
from lesr_local.candidates.repair import GRAMMAR_CODE_PREFIX, NO_CODE_REASON, sample_valid_candidate
from lesr_local.envs import get_env_info
from tests.helpers_candidates import real_states

GOOD_BODY = ("    return np.concatenate([s, [np.abs(s[8])]])\n\n\ndef intrinsic_reward(updated_s):\n"
             "    return float(np.tanh(updated_s[17]))\n```\n")
BAD_BODY = ("    return s\n\n\ndef intrinsic_reward(updated_s):\n    return 0.0\n```\n")  # no extra dim


@dataclass
class _Gen:
    text: str
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    prompt_seconds: float = 0.0


@dataclass
class _Params:
    max_tokens: int = 300
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int | None = 5
    stop: list[str] = field(default_factory=list)
    grammar: str | None = None


class ReplayClient:
    """Answers with fixed replies in order and records what it was asked."""

    def __init__(self, replies: list[str], cancel_on: int | None = None) -> None:
        self.replies = list(replies)
        self.prompts: list[str] = []
        self.seeds: list[int | None] = []
        self.cancel_on = cancel_on
        self.model = "replay"

    def generate(self, prompt, params, on_token=None, cancel=None):
        self.prompts.append(prompt)
        self.seeds.append(params.seed)
        if self.cancel_on is not None and len(self.prompts) - 1 == self.cancel_on:
            return _Gen("", finish_reason="cancelled")
        return _Gen(self.replies.pop(0))


def _render(model, system, user, prefix):
    return f"<{system}>\n{user}\n<assistant>{prefix}"


@pytest.fixture(scope="module")
def cheetah():
    return get_env_info("HalfCheetah-v5")


def _check(code: str):
    return check_source_on_states(code, real_states("HalfCheetah-v5"))


def test_first_answer_valid(cheetah) -> None:
    client = ReplayClient([GOOD_BODY])
    seen = []
    outcome = sample_valid_candidate(client, cheetah, initial_prompt(cheetah), _Params(), 2, _check,
                                     seen.append, render=_render)
    assert outcome.valid and outcome.reason is None and outcome.result.extra_dims == 1
    assert outcome.code.startswith("import numpy as np")
    assert len(client.prompts) == 1 and client.prompts[0].endswith(CANDIDATE_CODE_PREFIX)
    assert [a.purpose for a in seen] == ["candidate"]


def test_repair_sends_the_reason_back(cheetah) -> None:
    client = ReplayClient([BAD_BODY, "I am not sure.", GOOD_BODY])
    seen = []
    outcome = sample_valid_candidate(client, cheetah, "USER PROMPT", _Params(), 2, _check, seen.append,
                                     render=_render)
    assert outcome.valid
    assert [a.purpose for a in seen] == ["candidate", "repair", "repair"]
    assert "at least one extra dim" in seen[0].reason
    assert "Reason: " in client.prompts[1] and "at least one extra dim" in client.prompts[1]
    assert "USER PROMPT" in client.prompts[1] and "return s" in client.prompts[1]
    # Prose after the code priming lands inside revise_state: the reason is the syntax error.
    assert "syntax error" in seen[1].reason and seen[1].reason in client.prompts[2]
    assert len(set(client.seeds)) == 3  # each repair samples afresh


def test_reply_without_code(cheetah) -> None:
    client = ReplayClient(["I am not sure what to write."])
    outcome = sample_valid_candidate(client, cheetah, "P", _Params(grammar="root ::= x"), 0, _check,
                                     render=_render)
    assert not outcome.valid and outcome.reason == NO_CODE_REASON and outcome.code is None


def test_bounded_retries_then_failed(cheetah) -> None:
    client = ReplayClient([BAD_BODY] * 5)
    outcome = sample_valid_candidate(client, cheetah, "P", _Params(), 1, _check, render=_render)
    assert not outcome.valid and "at least one extra dim" in outcome.reason
    assert len(client.prompts) == 2 and len(outcome.attempts) == 2


def test_cancel(cheetah) -> None:
    client = ReplayClient([BAD_BODY, GOOD_BODY], cancel_on=1)
    outcome = sample_valid_candidate(client, cheetah, "P", _Params(), 3, _check, render=_render)
    assert outcome.cancelled and outcome.reason == "cancelled" and not outcome.valid
    event = threading.Event()
    event.set()
    outcome = sample_valid_candidate(ReplayClient([GOOD_BODY]), cheetah, "P", _Params(), 3, _check,
                                     render=_render, cancel=event)
    assert outcome.cancelled


def test_grammar_uses_the_fence_only_prefix(cheetah) -> None:
    module = ("import numpy as np\nimport math\n\ndef revise_state(s):\n    f1 = s[8] * 0.5\n"
              "    return np.concatenate([s, np.array([f1])])\n\n\ndef intrinsic_reward(updated_s):\n"
              "    return float(updated_s[17])\n")
    client = ReplayClient([module])
    outcome = sample_valid_candidate(client, cheetah, "P", _Params(grammar="root ::= x"), 0, _check,
                                     render=_render)
    assert outcome.valid, outcome.reason
    assert client.prompts[0].endswith(GRAMMAR_CODE_PREFIX)


@pytest.mark.slow
def test_real_default_model_through_the_repair_loop(cheetah) -> None:
    client_mod = pytest.importorskip("lesr_local.llm.client")
    from lesr_local.llm.discovery import resolve_model
    from lesr_local.llm.grammar import candidate_grammar, use_grammar

    model = resolve_model(None)
    grammar = candidate_grammar(cheetah.state_dim) if use_grammar("auto", model) else None
    params = client_mod.GenerationParams(max_tokens=400, temperature=0.7, seed=1, grammar=grammar)
    attempts = []
    with client_mod.LLMClient(model, n_ctx=4096, n_threads=2) as client:
        client.start()
        outcome = sample_valid_candidate(client, cheetah, initial_prompt(cheetah), params, 2, _check,
                                         attempts.append, model=model)
    assert attempts and all(a.generation.text is not None for a in attempts)
    for attempt in attempts:
        assert attempt.reason is None or "\n" not in attempt.reason
    if grammar is not None:
        assert outcome.valid, [a.reason for a in attempts]


def test_free_form_generation_stops_at_the_closing_fence(cheetah) -> None:
    stops: list[list[str]] = []

    class Recording(ReplayClient):
        def generate(self, prompt, params, on_token=None, cancel=None):
            stops.append(list(params.stop))
            return super().generate(prompt, params, on_token, cancel)

    sample_valid_candidate(Recording([GOOD_BODY]), cheetah, "P", _Params(), 0, _check, render=_render)
    sample_valid_candidate(Recording([GOOD_BODY]), cheetah, "P", _Params(grammar="g"), 0, _check, render=_render)
    assert stops == [["```\n"], []]  # a closing fence; an opening "```python" does not stop


def test_chat_model_is_primed_with_the_fence_only(cheetah) -> None:
    # A chat model writes the whole module itself (primed mid-function it closed the block at once).
    @dataclass
    class _ChatModel:
        chat_template: bool = True

    module = "import numpy as np\n\n\ndef revise_state(s):\n" + GOOD_BODY
    client = ReplayClient([module])
    outcome = sample_valid_candidate(client, cheetah, "P", _Params(), 0, _check, model=_ChatModel(),
                                     render=_render)
    assert outcome.valid, outcome.reason
    assert client.prompts[0].endswith("<assistant>" + GRAMMAR_CODE_PREFIX)


def test_repair_prompt_that_would_not_fit_leaves_the_code_out(cheetah) -> None:
    client = ReplayClient([BAD_BODY, GOOD_BODY])
    seen: list[str] = []

    def fits(rendered: str) -> bool:
        seen.append(rendered)
        return "return s\n" not in rendered  # the rejected code is what makes it too long here

    outcome = sample_valid_candidate(client, cheetah, "USER PROMPT", _Params(), 1, _check, render=_render, fits=fits)
    assert outcome.valid
    repair = client.prompts[1]
    assert "its code is left out here to save space" in repair and "return s\n" not in repair
    assert "Reason: " in repair and "at least one extra dim" in repair and "USER PROMPT" in repair
    assert len(seen) == 1  # only repair prompts are measured
