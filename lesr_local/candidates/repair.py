"""Ask the LLM for a candidate; on rejection, re-ask with the one-line reason (bounded retries).

`sample_valid_candidate` is what the search engine calls once per sample. It renders the prompt for
the model (chat template or completion format, ending in the code priming), extracts the code from
the reply, checks it with the caller's `check` (normally `check_candidate` bound to the env) and, if
rejected, asks again with `repair_prompt`. The sample counts as failed after 1 + `attempts` tries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from lesr_local.candidates.extract import extract_code
from lesr_local.candidates.prompts import CANDIDATE_CODE_PREFIX, SYSTEM_PROMPT, EnvLike, repair_prompt
from lesr_local.candidates.semantics import CheckResult
from lesr_local.llm.prompting import render_prompt

GRAMMAR_CODE_PREFIX = "```python\n"  # the fence alone: the grammar (or a chat model) writes the imports
CODE_STOP = "```\n"  # free-form generation stops at a closing fence (not at an opening "```python")
NO_CODE_REASON = ("no code found: reply with one Python code block that defines revise_state(s) and "
                  "intrinsic_reward(updated_s)")


@dataclass
class Attempt:
    index: int  # 0 = the first ask, then one per repair
    purpose: str  # "candidate" | "repair"
    prompt: str  # the user message (before rendering for the model)
    generation: Any | None  # lesr_local.llm.client.Generation
    code: str | None
    result: CheckResult | None
    reason: str | None  # None when valid


@dataclass
class SampleOutcome:
    valid: bool
    code: str | None
    result: CheckResult | None
    reason: str | None  # the last rejection reason, "cancelled", or None when valid
    attempts: list[Attempt] = field(default_factory=list)
    cancelled: bool = False


def code_prefix(params: Any, model: Any = None) -> str:
    """The assistant prefix that starts the code: just the fence with a grammar or for a chat model,
    else (a base model writing free-form) the full priming down to `def revise_state(s):`.

    Chat models are not primed with the half-written function: SmolLM2-135M-Instruct closed the
    block at once or wrote the bodies flush left (1 valid of 6 free-form), and wrote whole modules
    after the fence alone (3 of 6; figures in docs/benchmarks.md).
    """
    if getattr(params, "grammar", None) or getattr(model, "chat_template", False):
        return GRAMMAR_CODE_PREFIX
    return CANDIDATE_CODE_PREFIX


def sample_valid_candidate(
    client: Any,
    env: EnvLike,
    prompt: str,
    params: Any,
    attempts: int,
    check: Callable[[str], CheckResult],
    on_attempt: Callable[[Attempt], None] | None = None,
    *,
    model: Any | None = None,
    system: str = SYSTEM_PROMPT,
    on_start: Callable[[int, str, str], None] | None = None,
    on_token: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    render: Callable[[Any, str, str, str], str] | None = None,
    fits: Callable[[str], bool] | None = None,
) -> SampleOutcome:
    """Generate, extract, check; repair up to `attempts` times. `prompt` is the user message.

    `on_start(index, purpose, rendered_prompt)` runs before each generation, `on_attempt(attempt)`
    after each check. `model` defaults to `client.model`; `render` to llm.prompting.render_prompt.
    `fits(rendered_prompt)`: whether a prompt leaves room for the reply in the context window; a
    repair prompt that would not fit leaves the rejected code out (the reason stays).
    """
    render = render_prompt if render is None else render
    model = model if model is not None else getattr(client, "model", None)
    prefix = code_prefix(params, model)
    history: list[Attempt] = []
    user = prompt
    last_code: str | None = None
    last_reason: str | None = None
    last_result: CheckResult | None = None
    for index in range(max(0, attempts) + 1):
        purpose = "candidate" if index == 0 else "repair"
        if index > 0:
            user = repair_prompt(prompt, last_code, last_reason or NO_CODE_REASON)
        rendered = render(model, system, user, prefix)
        if index > 0 and last_code and fits is not None and not fits(rendered):
            user = repair_prompt(prompt, last_code, last_reason or NO_CODE_REASON, code_left_out=True)
            rendered = render(model, system, user, prefix)
        if on_start is not None:
            on_start(index, purpose, rendered)
        if cancel is not None and cancel.is_set():
            return SampleOutcome(False, None, None, "cancelled", history, cancelled=True)
        seeded = _with_code_stop(_vary_seed(params, index))
        generation = client.generate(rendered, seeded, on_token=on_token, cancel=cancel)
        if getattr(generation, "finish_reason", None) == "cancelled":
            attempt = Attempt(index, purpose, user, generation, None, None, "cancelled")
            history.append(attempt)
            if on_attempt is not None:
                on_attempt(attempt)
            return SampleOutcome(False, None, None, "cancelled", history, cancelled=True)
        code = extract_code(generation.text, prefix)
        result: CheckResult | None = None
        if code is None:
            reason: str | None = NO_CODE_REASON
        else:
            result = check(code)
            reason = None if result.valid else (result.reason or "rejected")
        attempt = Attempt(index, purpose, user, generation, code, result, reason)
        history.append(attempt)
        if on_attempt is not None:
            on_attempt(attempt)
        if reason is None:
            return SampleOutcome(True, code, result, None, history)
        last_code, last_reason, last_result = code, reason, result
    return SampleOutcome(False, last_code, last_result, last_reason, history)


def _with_code_stop(params: Any) -> Any:
    """Free-form replies end where the code block closes (a grammar ends the reply by itself)."""
    stop = getattr(params, "stop", None)
    if getattr(params, "grammar", None) or stop is None or CODE_STOP in stop:
        return params
    try:
        return replace(params, stop=[*stop, CODE_STOP])
    except TypeError:
        return params


def _vary_seed(params: Any, index: int) -> Any:
    """A repair must not replay the same sample: shift a fixed seed per attempt."""
    seed = getattr(params, "seed", None)
    if index == 0 or seed is None:
        return params
    try:
        return replace(params, seed=int(seed) + 7919 * index)
    except TypeError:
        return params
