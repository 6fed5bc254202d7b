"""The generation path with real llama.cpp and the real default model (loaded once per module)."""

from __future__ import annotations

import ast
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from lesr_local.errors import BadInput
from lesr_local.llm.client import GenerationParams, LLMClient, LLMError, PromptTooLong
from lesr_local.llm.discovery import resolve_model
from lesr_local.llm.grammar import candidate_grammar
from lesr_local.llm.prompting import CODE_FENCE, render_prompt
from lesr_local.sandbox.policy import check_policy

PROMPT = "# Python helpers for vectors\nimport numpy as np\n\n\ndef norm(v):\n"
TASK = ("Task: make a 2D robot run forward fast. The state s has 6 values: s[0] torso angle (rad), "
        "s[1] torso height (m), s[2] forward velocity (m/s), s[3] vertical velocity (m/s), "
        "s[4] thigh angle (rad), s[5] foot angle (rad). Write revise_state(s) and intrinsic_reward(updated_s).")


@pytest.fixture(scope="module")
def model():
    return resolve_model(None)


@pytest.fixture(scope="module")
def client(model) -> Iterator[LLMClient]:
    with LLMClient(model, n_ctx=1024) as c:
        yield c


def test_starts_with_the_expected_runtime_settings(client: LLMClient) -> None:
    assert client.n_ctx == 1024
    assert client.runtime_info["n_threads"] == client.n_threads >= 1
    assert client.load_seconds is not None and client.load_seconds > 0  # the figure: `lesr bench llm`
    assert client.count_tokens("hello world") >= 2  # BOS + text
    assert client.fits("hello", 100) and not client.fits("hello " * 600, 600)


def test_streams_tokens_and_reuses_the_prompt_prefix(client: LLMClient) -> None:
    pieces: list[str] = []
    first = client.generate(PROMPT, GenerationParams(max_tokens=24, seed=1), on_token=pieces.append)
    assert len(pieces) >= 2 and "".join(pieces) == first.text
    assert first.completion_tokens <= 24 and first.finish_reason in ("stop", "length")
    second = client.generate(PROMPT, GenerationParams(max_tokens=24, seed=2))
    # Every prompt token but the last comes from the KV cache of the previous call.
    assert second.prompt_cached_tokens == second.prompt_tokens - 1


@pytest.mark.slow
def test_same_seed_reproduces_and_other_seeds_differ(client: LLMClient) -> None:
    params = GenerationParams(max_tokens=30, temperature=1.0, seed=123)
    a = client.generate(PROMPT, params)
    client.generate("unrelated text to disturb the cache", GenerationParams(max_tokens=5, seed=9))
    b = client.generate(PROMPT, params)
    assert a.text == b.text
    others = {client.generate(PROMPT, GenerationParams(max_tokens=30, temperature=1.0, seed=s)).text
              for s in (7, 8, 9)}
    assert len(others | {a.text}) > 1


def test_stop_strings_end_the_reply(client: LLMClient) -> None:
    gen = client.generate(PROMPT, GenerationParams(max_tokens=60, temperature=0.0, stop=["\n"]))
    assert "\n" not in gen.text and gen.finish_reason == "stop"


@pytest.mark.slow
def test_grammar_output_is_a_policy_clean_candidate(client: LLMClient, model) -> None:
    prompt = render_prompt(model, "You write Python feature code.", TASK, CODE_FENCE)
    assert prompt.endswith(CODE_FENCE)
    for seed in (0, 1):
        gen = client.generate(prompt, GenerationParams(max_tokens=400, seed=seed, grammar=candidate_grammar(6)))
        assert gen.finish_reason == "stop", gen.text
        ast.parse(gen.text)
        assert check_policy(gen.text) is None, gen.text
        assert "def revise_state(s):" in gen.text and "def intrinsic_reward(updated_s):" in gen.text


def test_invalid_grammar_is_bad_input(client: LLMClient) -> None:
    with pytest.raises(BadInput, match="invalid grammar"):
        client.generate(PROMPT, GenerationParams(max_tokens=5, grammar="root ::= ("))
    assert client.generate(PROMPT, GenerationParams(max_tokens=3, seed=0)).completion_tokens >= 1


def test_prompt_over_the_context_names_the_sizes(client: LLMClient) -> None:
    long_prompt = "word " * 1100
    with pytest.raises(PromptTooLong) as err:
        client.generate(long_prompt, GenerationParams(max_tokens=50))
    message = str(err.value)
    assert "max_tokens 50" in message and "n_ctx=1024" in message and "prompt tokens" in message
    assert err.value.exit_code == 2


def test_cancellation_mid_generation(client: LLMClient) -> None:
    cancel = threading.Event()
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 3:
            cancel.set()

    gen = client.generate(PROMPT, GenerationParams(max_tokens=200, temperature=1.0, seed=3),
                          on_token=on_token, cancel=cancel)
    assert gen.finish_reason == "cancelled"
    assert gen.completion_tokens < 20
    # The worker stays usable after a cancel.
    assert client.generate(PROMPT, GenerationParams(max_tokens=4, seed=0)).completion_tokens >= 1


def test_worker_crash_is_retried_once_then_reported(client: LLMClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pin the safe-mode verdict: a simulated fault must not teach this machine's cache anything.
    monkeypatch.setenv("LESR_LLAMA_SAFE", "1" if client.safe_mode else "0")
    params = GenerationParams(max_tokens=20, temperature=1.0, seed=42)
    expected = client.generate(PROMPT, params).text
    crashed: list[int] = []
    pieces: list[str] = []

    def crash_once(piece: str) -> None:
        pieces.append(piece)
        if not crashed:
            crashed.append(client.worker_pid or 0)
            os.kill(crashed[0], signal.SIGSEGV)  # a native fault, as a llama.cpp bug would cause

    gen = client.generate(PROMPT, params, on_token=crash_once)
    assert gen.restarts == 1 and client.worker_pid != crashed[0]
    assert gen.text == expected  # same seed after the restart
    assert "".join(pieces) == expected  # nothing delivered twice

    def crash_always(piece: str) -> None:
        pid = client.worker_pid
        if pid:
            os.kill(pid, signal.SIGKILL)

    with pytest.raises(LLMError) as err:
        client.generate(PROMPT, params, on_token=crash_always)
    message = str(err.value)
    assert "llama.cpp worker" in message and "again after one restart" in message and "\n" not in message
    # The next call starts a fresh worker.
    assert client.generate(PROMPT, GenerationParams(max_tokens=3, seed=0)).completion_tokens >= 1
