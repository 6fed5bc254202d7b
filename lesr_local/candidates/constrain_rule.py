"""`--constrain auto`: constrain decoding unless the model has been measured writing valid free-form code.

The rule is a measurement, taken once per model file and remembered: the model writes
`PROBE_SAMPLES` unconstrained candidates for the `PROBE_ENV` prompt (the same prompt, priming,
extraction and candidate checks as a search, no repairs); free-form decoding is kept for `auto`
only if at least `PROBE_MIN_VALID_RATE` of them (2 of 3) pass the checks. Anything less costs a
search more repair turns than the grammar does (figures for the models measured: docs/benchmarks.md).

Why not the model's size or name: a 135M chat model and a 7B one differ in what they write, not in a
flag in their files, and users bring models we have never seen. Where no client is at hand to measure
with (nothing loaded yet) and no measurement is remembered, the prior rule applies:
`llm.grammar.use_grammar` (base models and models up to 2B parameters are constrained).

Verdicts live in `<user cache>/constrain-probe.json`, keyed by the model (`ModelInfo.identity`: a
file by its resolved path, size and mtime; a served model by its server and what the server reports
of it) and `PROBE_VERSION` (bumped whenever the prompt, extraction or checks change what a probe would
measure). A resumed run therefore decides as it did, unless the cache was cleared.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lesr_local.candidates.checks import check_candidate
from lesr_local.candidates.prompts import SYSTEM_PROMPT, focus_prompt, initial_prompt
from lesr_local.candidates.repair import sample_valid_candidate
from lesr_local.envs.catalogue import get_env_info
from lesr_local.errors import BadInput
from lesr_local.llm.client import GenerationParams, PromptTooLong
from lesr_local.llm.discovery import ModelInfo
from lesr_local.llm.grammar import use_grammar
from lesr_local.llm.prompting import CODE_STOP
from lesr_local.workspace import user_cache_dir

PROBE_ENV = "Hopper-v5"
PROBE_SAMPLES = 3
PROBE_MIN_VALID_RATE = 2 / 3
PROBE_MAX_TOKENS = 600
PROBE_TEMPERATURE = 0.8
PROBE_VERSION = 1
_CACHE_NAME = "constrain-probe.json"


@dataclass
class FreeFormVerdict:
    model: str
    valid: int
    samples: int
    constrain: bool  # what `auto` decides for this model
    env_id: str
    seconds: float
    measured_at: float
    reasons: list[str]  # the rejection reasons of the invalid samples (one line each)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def cache_path() -> Path:
    return user_cache_dir() / _CACHE_NAME


def _model_key(model: ModelInfo) -> str:
    # a file: its resolved path, size and mtime; a served model: its server and what it reports
    return f"v{PROBE_VERSION}:{model.identity()}"


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered_verdict(model: ModelInfo) -> FreeFormVerdict | None:
    entry = _read_cache().get(_model_key(model))
    if not isinstance(entry, dict):
        return None
    try:
        return FreeFormVerdict(**entry)
    except TypeError:
        return None  # an entry written by another version of this module: measure again


def remember_verdict(model: ModelInfo, verdict: FreeFormVerdict) -> None:
    path = cache_path()
    data = _read_cache()
    data[_model_key(model)] = verdict.to_json()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a read-only cache only means measuring again next time


def measure_free_form(client: Any, model: ModelInfo, samples: int = PROBE_SAMPLES, seed: int = 0, *,
                      unsafe_no_seccomp: bool = False) -> FreeFormVerdict:
    """Generate `samples` unconstrained candidates with `client` (a started LLMClient) and check them
    (`unsafe_no_seccomp`: the user's opt-out, see `candidates.checks`)."""
    env = get_env_info(PROBE_ENV)
    prompt = initial_prompt(env)
    started = time.perf_counter()
    valid = 0
    reasons: list[str] = []
    for k in range(samples):
        params = GenerationParams(max_tokens=PROBE_MAX_TOKENS, temperature=PROBE_TEMPERATURE,
                                  seed=seed * 100_003 + k, stop=list(CODE_STOP))
        outcome = sample_valid_candidate(
            client, env, focus_prompt(prompt, env, 0, k, seed), params, 0,
            lambda code: check_candidate(code, env.env_id, unsafe_no_seccomp=unsafe_no_seccomp), model=model,
            system=SYSTEM_PROMPT,
        )
        if outcome.valid:
            valid += 1
        else:
            reasons.append(outcome.reason or "rejected")
    return FreeFormVerdict(
        model=model.name, valid=valid, samples=samples, constrain=valid < PROBE_MIN_VALID_RATE * samples - 1e-9,
        env_id=env.env_id, seconds=round(time.perf_counter() - started, 2), measured_at=time.time(),
        reasons=reasons,
    )


def decide_constrain(mode: str, model: ModelInfo, client: Callable[[], Any] | None = None,
                     on_measure: Callable[[], None] | None = None, *,
                     unsafe_no_seccomp: bool = False) -> tuple[bool, FreeFormVerdict | None]:
    """(constrain?, the verdict it rests on). `client` returns a started LLMClient for `model`; with
    it, `auto` measures a model it has no verdict for (`on_measure` is called first: it takes a while)."""
    if mode in ("on", "off"):
        return mode == "on", None
    if mode != "auto":
        raise BadInput(f"--constrain must be auto, on or off, got {mode!r}")
    verdict = remembered_verdict(model)
    if verdict is None and client is not None:
        if on_measure is not None:
            on_measure()
        try:
            verdict = measure_free_form(client(), model, unsafe_no_seccomp=unsafe_no_seccomp)
        except PromptTooLong:
            return use_grammar("auto", model), None  # a context this small cannot take the probe's prompt
        remember_verdict(model, verdict)
    if verdict is None:
        return use_grammar("auto", model), None
    return verdict.constrain, verdict
