"""`lesr bench llm`: load time, prompt / generation speed, time to the first valid candidate, valid
rate and the KV-cache prefix reuse across the K samples of one iteration (the real prompt of --env).

Validity is the candidate-code checks (`candidates.checks.check_candidate`: policy + sandboxed
semantic checks on real states). Each sample gets the prompt the search engine would send it (the
shared prompt plus its per-sample focus), and the report counts how many distinct valid candidates
came out.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lesr_local.candidates.checks import check_candidate
from lesr_local.candidates.constrain_rule import decide_constrain
from lesr_local.candidates.extract import extract_code
from lesr_local.candidates.prompts import (
    CANDIDATE_CODE_PREFIX,
    SYSTEM_PROMPT,
    focus_dims,
    focus_prompt,
    initial_prompt,
)
from lesr_local.candidates.repair import code_prefix
from lesr_local.config import LLMConfig
from lesr_local.envs.catalogue import get_env_info
from lesr_local.errors import BadInput
from lesr_local.llm.client import GenerationParams, LLMClient, PromptTooLong
from lesr_local.llm.discovery import resolve_model
from lesr_local.llm.grammar import candidate_grammar, use_grammar
from lesr_local.llm.prompting import CODE_STOP, check_chat_template, render_prompt
from lesr_local.llm.server import ServerClient, served_model
from lesr_local.output import print_json
from lesr_local.workspace import home_from

GOAL_FIRST_VALID_S = 30.0
GOAL_VALID_RATE = 0.9
GOAL_SECOND_PROMPT_FRACTION = 0.10
GOAL_SERVER_RATIO = 1.2  # --llm-url: the server path within 1.2x of in-process on the same machine


@dataclass
class _Sample:
    index: int
    seed: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    prompt_s: float
    total_s: float
    sample_s: float
    grammar_fallbacks: int
    finish: str
    valid: bool
    reason: str | None
    text: str = ""


def run_llm_bench(args: argparse.Namespace) -> int:
    """One model and mode, or every pair of `--model` x `--constrain on,off` in one run."""
    home_from(args)  # an unwritable workspace is bad input here as everywhere (nothing written yet)
    if getattr(args, "copy_rate", False):
        report = run_copy_bench(args)
        if args.json:
            print_json(report)
        else:
            for arm in report["arms"]:
                print(f"{arm['env']:16s} {arm['example']:12s} copy {arm['copy_rate']:.2f} (feature "
                      f"{arm['feature_copy_rate']:.2f}, reward {arm['reward_copy_rate']:.2f}) valid "
                      f"{arm['valid_rate']:.2f}, {arm['distinct_valid']} distinct of {arm['runs']}")
        return 0
    if args.samples < 1:
        raise BadInput(f"--samples must be at least 1, got {args.samples}")
    if args.max_tokens < 1:
        raise BadInput(f"--max-tokens must be at least 1, got {args.max_tokens}")
    models = _model_specs(args.model)
    modes = _constrain_modes(args.constrain)
    if getattr(args, "llm_url", None):
        report = _server_beside_in_process(args, models, modes)
        if args.json:
            print_json(report)
        else:
            for pair in report["pairs"]:
                _print_text(pair["server"])
                _print_text(pair["in_process"])
                print(f"  server vs in-process: {pair['comparison']}")
        return 0
    reports = [_bench_one(args, spec, mode) for spec in models for mode in modes]
    if len(reports) == 1:
        report: dict[str, Any] = reports[0]
    else:
        report = {"runs": reports, "table": [_table_row(r) for r in reports]}
    if args.json:
        print_json(report)
    else:
        for one in reports:
            _print_text(one)
    return 0


def _model_specs(value: Any) -> list[str | None]:
    if not value:
        return [None]
    specs = value if isinstance(value, list) else [value]
    return [s for spec in specs for s in str(spec).split(",") if s.strip()] or [None]


def _constrain_modes(value: str) -> list[str]:
    modes = [m.strip() for m in str(value).split(",") if m.strip()]
    bad = [m for m in modes if m not in ("auto", "on", "off")]
    if not modes or bad:
        raise BadInput(f"--constrain takes auto, on, off or a comma list of them, got {value!r}")
    return list(dict.fromkeys(modes))


def _table_row(report: dict[str, Any]) -> dict[str, Any]:
    return {key: report[key] for key in ("model", "constrain_mode", "constrained", "valid_rate",
                                         "time_to_first_valid_s", "distinct_valid_candidates")}


def _server_beside_in_process(args: argparse.Namespace, models: list[str | None], modes: list[str]) -> dict[str, Any]:
    """`--llm-url`: the server and the in-process runtime on the same model file, same prompts,
    seeds and settings, one after the other in this run (the server idles while the other runs)."""
    served, facts = served_model(args.llm_url)
    local_spec = models[0] if models != [None] else facts.model_path
    if not local_spec:
        raise BadInput(f"the server at {facts.url} does not say where its model file is: pass --model with "
                       "the same GGUF to bench the in-process runtime beside it")
    local = resolve_model(local_spec)
    pairs = []
    for mode in modes:
        remote = _bench_one(args, None, mode, model=served, client=ServerClient(served))
        here = _bench_one(args, None, mode, model=local, client=LLMClient(local))
        pairs.append({"constrain_mode": mode, "server": remote, "in_process": here,
                      "comparison": _compare(remote, here)})
    return {"llm_url": facts.url, "served_by": facts.served_by, "served_model": facts.model,
            "server_n_ctx": facts.n_ctx, "in_process_model": str(local.path),
            "goal": f"server within {GOAL_SERVER_RATIO}x of in-process (generation tokens/s, first valid)",
            "pairs": pairs}


def _compare(remote: dict[str, Any], here: dict[str, Any]) -> dict[str, Any]:
    def ratio(slow: float | None, fast: float | None) -> float | None:
        return _r(slow / fast) if slow and fast else None

    gen = ratio(here["gen_tok_per_s"], remote["gen_tok_per_s"])  # > 1: the server generates slower
    first = ratio(remote["time_to_first_valid_s"], here["time_to_first_valid_s"])  # > 1: the server is later
    return {"in_process_over_server_gen_tok_per_s": gen, "server_over_in_process_first_valid_s": first,
            "valid_rate": {"server": remote["valid_rate"], "in_process": here["valid_rate"]},
            "within_goal": gen is not None and gen <= GOAL_SERVER_RATIO
            and (first is None or first <= GOAL_SERVER_RATIO)}


def _bench_one(args: argparse.Namespace, model_spec: str | None, mode: str, *, model: Any = None,
               client: Any = None) -> dict[str, Any]:
    model = model if model is not None else resolve_model(model_spec)
    check_chat_template(model)
    env = get_env_info(args.env)
    client = client if client is not None else LLMClient(model)
    started = time.perf_counter()
    client.start()
    start_s = time.perf_counter() - started
    samples: list[_Sample] = []
    first_valid_s: float | None = None
    try:
        # A prompt that cannot fit is bad input before anything is measured (the longest priming counts).
        longest = render_prompt(model, SYSTEM_PROMPT, focus_prompt(initial_prompt(env), env, 0, 0, args.seed),
                                CANDIDATE_CODE_PREFIX)
        if not client.fits(longest, args.max_tokens):
            raise PromptTooLong(client.count_tokens(longest), args.max_tokens, client.n_ctx)
        # auto: the remembered measurement of this model file, taken now if there is none (not timed here).
        constrained, verdict = decide_constrain(mode, model, lambda: client)
        system, user, prefix, prompt_source = _prompt_parts(env, constrained, model)
        validate, validity = _validator(env.env_id, prefix)
        # One prompt per sample, exactly as the engine sends them (the per-sample focus keeps a small
        # model's K samples from being copies of each other; the shared head stays in the KV cache).
        prompts = [render_prompt(model, system, focus_prompt(user, env, 0, i, args.seed), prefix)
                   for i in range(args.samples)]
        grammars = [candidate_grammar(env.state_dim, focus=focus_dims(env.state_dim, 0, i, args.seed))
                    if constrained else None for i in range(args.samples)]
        stop = [] if constrained else list(CODE_STOP)
        gen_started = time.perf_counter()
        for i in range(args.samples):
            params = GenerationParams(max_tokens=args.max_tokens, seed=args.seed + i, grammar=grammars[i], stop=stop)
            gen = client.generate(prompts[i], params)
            valid, reason = validate(gen.text)
            if valid and first_valid_s is None:
                first_valid_s = time.perf_counter() - gen_started
            samples.append(_Sample(
                index=i, seed=gen.seed, prompt_tokens=gen.prompt_tokens, cached_tokens=gen.prompt_cached_tokens,
                completion_tokens=gen.completion_tokens, prompt_s=gen.prompt_seconds, total_s=gen.seconds,
                sample_s=gen.sample_seconds, grammar_fallbacks=gen.grammar_fallbacks, finish=gen.finish_reason,
                valid=valid, reason=reason, text=gen.text.strip(),
            ))
    finally:
        client.close()

    report = _report(args, model, env.env_id, client, start_s, samples, first_valid_s, validity,
                     constrained, prompt_source)
    report["constrain_mode"] = mode
    report["chat_template"] = model.chat_template
    report["auto_verdict"] = verdict.to_json() if verdict is not None else None
    return report


def _prompt_parts(env: Any, constrained: bool, model: Any) -> tuple[str, str, str, str]:
    """(system, user message, assistant prefix, where the prompt came from)."""
    class _Params:  # code_prefix only looks at .grammar
        grammar = "on" if constrained else None

    return (SYSTEM_PROMPT, initial_prompt(env), code_prefix(_Params(), model),
            "candidates.prompts.initial_prompt + focus_prompt per sample (as the search engine sends it)")


def _validator(env_id: str, prefix: str) -> tuple[Callable[[str], tuple[bool, str | None]], str]:
    def full_check(reply: str) -> tuple[bool, str | None]:
        code = extract_code(reply, prefix)
        if code is None:
            return False, "no code found in the reply"
        result = check_candidate(code, env_id)
        return bool(result.valid), result.reason

    return full_check, "candidate-checks"


def _report(
    args: argparse.Namespace, model: Any, env_id: str, client: Any, start_s: float, samples: list[_Sample],
    first_valid_s: float | None, validity: str, constrained: bool, prompt_source: str,
) -> dict[str, Any]:
    first = samples[0]
    evaluated = first.prompt_tokens - first.cached_tokens
    prompt_tps = evaluated / first.prompt_s if first.prompt_s > 0 else None
    gen_tokens = sum(s.completion_tokens for s in samples)
    gen_time = sum(s.total_s - s.prompt_s for s in samples)
    later = [s.prompt_s for s in samples[1:]]
    reuse = first.prompt_s / statistics.mean(later) if later and statistics.mean(later) > 0 else None
    second_fraction = samples[1].prompt_s / first.prompt_s if len(samples) > 1 and first.prompt_s > 0 else None
    valid_rate = sum(s.valid for s in samples) / len(samples)
    distinct = len({s.text for s in samples if s.valid})
    return {
        "model": model.name, "model_path": str(model.path), "env": env_id, "samples": len(samples),
        "runtime": f"server {model.url} ({model.served_by})" if model.url else "in-process",
        "max_tokens": args.max_tokens, "constrained": constrained, "prompt_source": prompt_source,
        "validity": validity,
        "time_to_first_valid_note": (
            "from the start of the first generation to the first reply that passes "
            + "the candidate checks (policy + sandboxed semantic checks)"
        ),
        "n_ctx": client.n_ctx, "n_threads": client.n_threads,
        "gpu_offload": bool(client.runtime_info.get("gpu_offload")), "safe_mode": client.safe_mode,
        "load_s": _r(client.runtime_info.get("load_seconds")), "start_s": _r(start_s),
        "prompt_tokens": first.prompt_tokens,
        "prompt_tok_per_s": _r(prompt_tps), "gen_tok_per_s": _r(gen_tokens / gen_time if gen_time > 0 else None),
        "time_to_first_valid_s": _r(first_valid_s), "valid_rate": round(valid_rate, 3),
        "distinct_valid_candidates": distinct,
        "prefix_reuse_speedup": _r(reuse), "second_prompt_fraction": _r(second_fraction, 4),
        "mean_completion_tokens": round(gen_tokens / len(samples), 1),
        "sampling_s_total": _r(sum(s.sample_s for s in samples)),
        "grammar_fallbacks_total": sum(s.grammar_fallbacks for s in samples),
        "goals": {
            "time_to_first_valid_le_30s": first_valid_s is not None and first_valid_s <= GOAL_FIRST_VALID_S,
            "valid_rate_ge_0_9": valid_rate >= GOAL_VALID_RATE,
            "second_prompt_le_10pct": second_fraction is not None and second_fraction <= GOAL_SECOND_PROMPT_FRACTION,
        },
        "per_sample": [
            {"seed": s.seed, "completion_tokens": s.completion_tokens, "prompt_s": _r(s.prompt_s, 4),
             "cached_tokens": s.cached_tokens, "total_s": _r(s.total_s), "finish": s.finish, "valid": s.valid,
             "reason": s.reason}
            for s in samples
        ],
    }


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def _print_text(report: dict[str, Any]) -> None:
    print(f"model {report['model']} on {report['env']} ({report['samples']} samples, "
          f"{'grammar on' if report['constrained'] else 'grammar off'}, validity: {report['validity']})")
    for key in ("constrain_mode", "load_s", "prompt_tok_per_s", "gen_tok_per_s", "time_to_first_valid_s",
                "valid_rate", "distinct_valid_candidates", "prefix_reuse_speedup", "second_prompt_fraction"):
        print(f"  {key:24s} {report[key]}")
    for goal, met in report["goals"].items():
        print(f"  goal {goal:30s} {'met' if met else 'NOT met'}")


# -- copy rate of the format example -------------------------------------------------------------

_FEATURE_LINE = re.compile(r"^\s*(\w+)\s*=\s*(.+?)\s*$")
_REWARD = re.compile(r"return\s+float\(np\.clip\((.+),\s*-10(?:\.0)?,\s*10(?:\.0)?\)\)")
_INDEX = re.compile(r"s\[\d+\]")


def example_copy(code: str, state_dim: int) -> dict[str, bool]:
    """Does a first candidate repeat the concrete example of the contract (prompts.example_code
    style "concrete": features np.abs(s[0]) and s[0] * s[1], reward updated_s[D] - 0.1 * updated_s[D+1])?

    feature: one of its features is an example feature verbatim, or its feature list has exactly the
    example's shapes (np.abs(s[i]), s[i] * s[j]) with other indices; reward: the reward is
    updated_s[D] - c * updated_s[D+1] for some constant c.
    """
    body = code.split("def intrinsic_reward", 1)
    features = [m.group(2) for line in body[0].splitlines() if (m := _FEATURE_LINE.match(line))
                and m.group(1) not in ("s",) and "np.concatenate" not in m.group(2)]
    flat = [" ".join(f.split()) for f in features]
    verbatim = any(f in ("np.abs(s[0])", "s[0] * s[1]") for f in flat)
    shapes = [_INDEX.sub("s[i]", f) for f in flat]
    feature = verbatim or shapes == ["np.abs(s[i])", "s[i] * s[i]"]
    match = _REWARD.search(body[1]) if len(body) > 1 else None
    d = state_dim
    reward = bool(match) and re.fullmatch(
        rf"updated_s\[{d}\] - [0-9.]+ \* updated_s\[{d + 1}\]", " ".join(match.group(1).split())) is not None
    return {"feature": feature, "reward": reward, "any": feature or reward}


def run_copy_bench(args: argparse.Namespace) -> dict[str, Any]:
    """The first candidate of `--runs` runs (seeds 0..runs-1) per env, with the concrete example
    (the earlier prompt: the baseline) and with the placeholder example (what the prompts send now),
    generated exactly as the engine generates a run's first candidate (its focus sentence, grammar,
    sampling seed and settings). Both arms are measured in this one process, same model, same seeds."""
    if args.runs < 1:
        raise BadInput(f"--runs must be at least 1, got {args.runs}")
    envs = [get_env_info(e.strip()) for e in args.envs.split(",") if e.strip()]
    model = resolve_model(args.model)
    constrained = use_grammar(args.constrain, model)
    llm = LLMConfig()

    class _Params:  # code_prefix only looks at .grammar
        grammar = "on" if constrained else None

    prefix = code_prefix(_Params())
    client = LLMClient(model)
    client.start()
    arms: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        for env in envs:
            for style in ("concrete", "placeholder"):
                user = initial_prompt(env, example=style)
                rows = []
                for run_seed in range(args.runs):
                    focus = focus_dims(env.state_dim, 0, 0, run_seed)
                    prompt = render_prompt(model, SYSTEM_PROMPT, focus_prompt(user, env, 0, 0, run_seed), prefix)
                    params = GenerationParams(
                        max_tokens=args.max_tokens, temperature=llm.temperature, top_p=llm.top_p,
                        seed=run_seed * 100_003,  # search.sampling: config.seed * 100_003 + it * 1000 + k
                        grammar=candidate_grammar(env.state_dim, focus=focus) if constrained else None,
                        stop=[] if constrained else list(CODE_STOP))
                    gen = client.generate(prompt, params)
                    code = extract_code(gen.text, prefix)
                    valid = code is not None and bool(check_candidate(code, env.env_id).valid)
                    copy = example_copy(code or "", env.state_dim)
                    rows.append({"run_seed": run_seed, "valid": valid, **{f"copy_{k}": v for k, v in copy.items()},
                                 "code": code})
                n = len(rows)
                arms.append({
                    "env": env.env_id, "example": style, "runs": n,
                    "copy_rate": round(sum(r["copy_any"] for r in rows) / n, 3),
                    "feature_copy_rate": round(sum(r["copy_feature"] for r in rows) / n, 3),
                    "reward_copy_rate": round(sum(r["copy_reward"] for r in rows) / n, 3),
                    "valid_rate": round(sum(r["valid"] for r in rows) / n, 3),
                    "distinct_valid": len({r["code"] for r in rows if r["valid"]}),
                    "per_run": rows,
                })
    finally:
        client.close()
    return {"model": model.name, "constrained": constrained, "max_tokens": args.max_tokens,
            "what": "first candidate of a run (iteration 0, sample 0) per run seed, as the engine generates it",
            "seconds": round(time.perf_counter() - started, 1), "arms": arms}
