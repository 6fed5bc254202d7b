"""Prompts for the LESR loop, in our own words: initial, feedback (analysis turn), next iteration.

All three carry the task, one line per state dim, and the candidate contract. The prompts are written
for weak base models too: exact signatures, the state size D, `updated_s[D:]` named as the extra dims
the reward must use, and an assistant prefix (`CANDIDATE_CODE_PREFIX`) that starts the code block.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

SYSTEM_PROMPT = (
    "You are an expert in reinforcement learning and robotics. You write short, correct Python "
    "functions that compute task-related state features and an intrinsic reward with numpy."
)

CANDIDATE_CODE_PREFIX = "```python\nimport numpy as np\n\n\ndef revise_state(s):\n"

ROBOT_GUIDANCE = (
    "This is a robotics task. Think in two steps: first, features that help the agent "
    "coordinate its own body (posture, joint velocities, balance, contact); second, features that relate "
    "the body to the goal or object (offsets, distances, directions to the target). The intrinsic reward should "
    "favour stable body control first and progress towards the goal second."
)


class _Dim(Protocol):
    index: int
    description: str
    unit: str


class EnvLike(Protocol):
    """What the prompts need from `lesr_local.envs.EnvInfo`."""

    env_id: str
    state_dim: int
    dims: Sequence[Any]
    task: str
    metric: str
    goal_based: bool


@dataclass
class CandidateFeedback:
    candidate_id: str
    iteration: int
    code: str
    score: float | None
    lipschitz: list[float] | None  # one per dim of revise_state(s)
    status: str  # finished | failed | rejected
    reason: str | None = None
    stopped_at_step: int | None = None  # successive halving cut it here; score is at that step


# ----------------------------------------------------------------------------------------------
# pieces


def describe_state(env: EnvLike) -> str:
    lines = [f"The state s is a 1-D numpy array of {env.state_dim} numbers (D = {env.state_dim}):"]
    for dim in env.dims:
        unit = f" [{dim.unit}]" if getattr(dim, "unit", "") else ""
        lines.append(f"- s[{dim.index}]: {dim.description}{unit}")
    return "\n".join(lines)


def _metric_text(env: EnvLike) -> str:
    if env.metric == "success_rate":
        return "the success rate over evaluation episodes (0 to 1, higher is better)"
    return "the mean episode return of the last evaluations (higher is better)"


def example_code(env: EnvLike, a: int = 0, b: int = 1, style: str = "placeholder") -> str:
    """The format example in the contract.

    "placeholder" (what the prompts send): the shape of the module with `<...>` where the
    expressions go, so the example carries no task meaning that a model could copy. "concrete" (the
    earlier example, kept as the baseline of `lesr bench llm --copy-rate`): real features over s[a]
    and s[b] and a reward `updated_s[D] - 0.1 * updated_s[D+1]`, which small models copied into
    their first candidate (the bench measures how often).
    """
    d = env.state_dim
    if style == "placeholder":
        return "\n".join([
            "```python",
            "import numpy as np",
            "",
            "",
            "def revise_state(s):",
            "    f1 = <a task-related feature computed from s>",
            "    f2 = <another one>",
            "    return np.concatenate([s, np.array([f1, f2])])",
            "",
            "",
            "def intrinsic_reward(updated_s):",
            f"    return float(np.clip(<an expression over the new features updated_s[{d}:]>, -10.0, 10.0))",
            "```",
        ])
    a, b = (a, b) if d > 1 else (0, 0)
    return "\n".join([
        "```python",
        "import numpy as np",
        "",
        "",
        "def revise_state(s):",
        f"    feature_1 = np.abs(s[{a}])",
        f"    feature_2 = s[{a}] * s[{b}]",
        "    return np.concatenate([s, np.array([feature_1, feature_2])])",
        "",
        "",
        "def intrinsic_reward(updated_s):",
        f"    return float(np.clip(updated_s[{d}] - 0.1 * updated_s[{d + 1}], -10.0, 10.0))",
        "```",
    ])


def contract(env: EnvLike, example: str = "placeholder") -> str:
    d = env.state_dim
    return "\n".join([
        "Write exactly two Python functions:",
        f"- revise_state(s): s is a numpy array of shape ({d},), the state above. Compute new "
        "task-related features from s and return np.concatenate([s, extra]), where extra is a 1-D "
        "array of at least one new feature.",
        f"- intrinsic_reward(updated_s): updated_s = revise_state(s), so updated_s[:{d}] is s and "
        f"updated_s[{d}:] are your new features. Return one float in [-100, 100] computed from the "
        f"new features updated_s[{d}:].",
        "",
        "Rules:",
        "- Only `import numpy as np` and `import math` are allowed; no other imports, no classes, no "
        "files, no printing, no randomness, no global variables.",
        f"- The first {d} entries of the returned array must be s itself, unchanged; do not modify s in place.",
        "- The output must have the same length for every state and contain only finite numbers: add a "
        "small constant (1e-6) to denominators and clip before exp or log.",
        "- Keep it fast: a few numpy operations, no long loops.",
        "",
        ("The expected format (write real numpy expressions where the <...> placeholders are; use as many "
         "features as the task needs):" if example == "placeholder"
         else "The expected format (replace these placeholder features with better ones for this task):"),
        example_code(env, style=example),
    ])


ROBOTICS_FAMILIES = frozenset({"antmaze", "fetch", "adroit"})


def is_robotics(env: EnvLike) -> bool:
    """Gym-Robotics tasks (goal-based or manipulation) get the body-first, goal-second guidance."""
    return bool(env.goal_based) or getattr(env, "family", "") in ROBOTICS_FAMILIES


def _task_block(env: EnvLike) -> str:
    parts = [f"Task ({env.env_id}): {env.task}"]
    rule = getattr(env, "success_rule", None)
    if rule:
        parts.append(f"Success: {rule}")
    parts += ["", describe_state(env)]
    if is_robotics(env):
        parts += ["", ROBOT_GUIDANCE]
    return "\n".join(parts)


def _fmt_score(score: float | None) -> str:
    if score is None or (isinstance(score, float) and not math.isfinite(score)):
        return "n/a"
    return f"{score:.1f}" if abs(score) >= 10 else f"{score:.3g}"


def _dim_label(env: EnvLike, index: int) -> str:
    if index < env.state_dim:
        dims = list(env.dims)
        desc = dims[index].description if index < len(dims) else "state"
        return f"s[{index}] {desc}"
    return f"new feature updated_s[{index}]"


def _lipschitz_lines(env: EnvLike, values: list[float] | None, extra_only: bool) -> str:
    if not values:
        return "Lipschitz constants: not available"
    items = []
    for i, value in enumerate(values):
        if extra_only and i < env.state_dim:
            continue
        items.append(f"{_dim_label(env, i)}: {value:.3g}")
    if extra_only:
        source = sorted(range(min(env.state_dim, len(values))), key=lambda i: -values[i])[:3]
        top = ", ".join(f"s[{i}] {values[i]:.3g}" for i in source)
        head = f"Lipschitz constants of the new features (largest source dims: {top}):"
    else:
        head = "Lipschitz constant of the extrinsic reward along each dim of updated_s:"
    return head + "\n" + "\n".join(f"  {item}" for item in items)


def _candidate_block(env: EnvLike, fb: CandidateFeedback, extra_only: bool, best: bool = False) -> str:
    if fb.status != "finished":
        why = fb.reason or "no reason recorded"
        return f"### Candidate {fb.candidate_id} (iteration {fb.iteration}): {fb.status}: {why}"
    tag = " (best so far)" if best else ""
    if fb.stopped_at_step is not None:
        tag = (f" at step {fb.stopped_at_step}, stopped early there: it scored below the other candidates of "
               "its iteration at that step")
    return "\n".join([
        f"### Candidate {fb.candidate_id} (iteration {fb.iteration}), score {_fmt_score(fb.score)}{tag}",
        "```python", fb.code.strip(), "```",
        _lipschitz_lines(env, fb.lipschitz, extra_only),
    ])


def best_candidate(history: Sequence[CandidateFeedback]) -> CandidateFeedback | None:
    finished = [h for h in history if h.status == "finished" and h.score is not None
                and math.isfinite(h.score) and h.stopped_at_step is None]  # early scores are not comparable
    return max(finished, key=lambda h: h.score) if finished else None  # type: ignore[arg-type, return-value]


# ----------------------------------------------------------------------------------------------
# the three prompts


def initial_prompt(env: EnvLike, example: str = "placeholder") -> str:
    return "\n".join([
        _task_block(env), "",
        "Goal: help a reinforcement learning agent (TD3) learn this task faster by giving it extra "
        "task-related state features, and an intrinsic reward built on those features.", "",
        contract(env, example), "",
        "Reply with one Python code block that defines both functions.",
    ])


def shaping_text(shaping: str, weight: float | None = None, gamma: float = 0.99) -> str:
    """One paragraph telling the model how its intrinsic reward entered the training reward."""
    w = "w" if weight is None else f"{weight:g}"
    if shaping == "potential":
        return (f"Training reward: r + {w} * ({gamma:g} * intrinsic_reward(next updated_s) - intrinsic_reward(updated_s)) "
                "(potential-based shaping): the agent is paid for increasing the intrinsic reward from one "
                "state to the next, so it acts as a potential that should be higher in states closer to doing "
                "the task well. It cannot change which behaviour is best, only how fast it is learnt.")
    return (f"Training reward: r + {w} * intrinsic_reward(next updated_s) (added at every step): an "
            "intrinsic reward that disagrees with the task can pull the agent away from it.")


def feedback_prompt(env: EnvLike, results: list[CandidateFeedback], baseline_score: float | None,
                    shaping: str = "additive", weight: float | None = None, gamma: float = 0.99) -> str:
    baseline = (f"The same agent trained on the raw state scored {_fmt_score(baseline_score)}."
                if baseline_score is not None else "")
    blocks = [_candidate_block(env, fb, extra_only=False) for fb in results]
    return "\n".join([
        _task_block(env), "",
        "Each candidate below was trained with TD3 for the same number of steps, except those marked as "
        f"stopped early, which are scored at the step they stopped. Score = {_metric_text(env)}. "
        + baseline,
        shaping_text(shaping, weight, gamma),
        "For every dim of updated_s we also measured the Lipschitz constant of the extrinsic reward "
        "along that dim: a large value means the reward changes sharply with that dim, so the dim is "
        "closely tied to the reward; a small value means the dim says little about the reward.", "",
        *blocks, "",
        "Analyse these results. Which new features seem to help and which do not, judging by the scores "
        "and the Lipschitz constants? Why did the best candidate do better? What should the next "
        "candidates change or add? Answer in a few short bullet points, without code.",
    ])


def iteration_prompt(env: EnvLike, history: list[CandidateFeedback], analysis: str,
                     fits: Callable[[str], bool]) -> tuple[str, list[str]]:
    """The next-iteration prompt and the ids of history entries left out to fit the context.

    Dropped first: failed/rejected entries, then the oldest finished ones; the best candidate and the
    most recent entries are kept longest. The prompt says what was left out.
    """
    best = best_candidate(history)
    kept = list(history)
    dropped: list[str] = []
    order = [h for h in history if h.status != "finished"] + [
        h for h in history if h.status == "finished" and h is not best]
    analysis_text = analysis.strip()
    prompt = _iteration_text(env, kept, best, analysis_text, dropped)
    for entry in order:
        if fits(prompt):
            return prompt, dropped
        kept.remove(entry)
        dropped.append(entry.candidate_id)
        prompt = _iteration_text(env, kept, best, analysis_text, dropped)
    while not fits(prompt) and len(analysis_text) > 200:
        analysis_text = analysis_text[: len(analysis_text) // 2].rstrip() + " ..."
        prompt = _iteration_text(env, kept, best, analysis_text, dropped)
    return prompt, dropped


def _iteration_text(env: EnvLike, kept: list[CandidateFeedback], best: CandidateFeedback | None,
                    analysis: str, dropped: list[str]) -> str:
    shown = sorted(kept, key=lambda h: (h is not best, -h.iteration))
    blocks = [_candidate_block(env, fb, extra_only=True, best=fb is best) for fb in shown]
    lines = [
        _task_block(env), "",
        f"Earlier candidates and their scores (score = {_metric_text(env)}; best first, then newest):", "",
        *blocks,
    ]
    if dropped:
        lines += ["", f"({len(dropped)} older candidate(s) left out to save space: {', '.join(dropped)}.)"]
    if analysis:
        lines += ["", "Your analysis of the latest results:", analysis]
    lines += [
        "", "Now write a new, improved candidate that builds on what worked and fixes what did not.", "",
        contract(env), "",
        "Reply with one Python code block that defines both functions.",
    ]
    return "\n".join(lines)


def repair_prompt(prompt: str, code: str | None, reason: str, *, code_left_out: bool = False) -> str:
    """`prompt` again, plus the rejected attempt and the one-line reason it was rejected.
    `code_left_out`: the attempt is not repeated (it would not fit the model's context window)."""
    if code_left_out:
        attempt = "(its code is left out here to save space)\n"
    else:
        attempt = f"```python\n{code.strip()}\n```\n" if code else "(no Python code block was found)\n"
    return "\n".join([
        prompt, "",
        "Your previous answer was rejected.", attempt.rstrip(),
        f"Reason: {reason}",
        "Write a corrected version that fixes exactly this problem and follows all the rules above.",
    ])


def focus_prompt(prompt: str, env: EnvLike, iteration: int, sample: int, seed: int) -> str:
    """`prompt` for sample k of an iteration: the shared prompt plus one sentence naming its own
    pair of state dims (the sample's grammar makes the first feature start from them).

    Small local models copy the worked example almost verbatim, so K samples at any temperature
    come out nearly identical (gemma-3-270m: 1 distinct candidate in 6); a different starting
    point per sample gives the search K real candidates (6 in 6). The pair is a deterministic
    function of (seed, iteration, sample), so a resumed run asks the same question, and it is
    appended at the very end so the whole shared prompt stays in the KV cache. It is one short
    sentence because everything after the shared prefix is evaluated again for every sample: with
    two example lines (~38 tokens) the second sample's prompt took 0.10 of the first's time, with
    the sentence alone 0.06-0.07, at the same validity and diversity (6 valid, 6 distinct in 6).
    """
    pair = focus_dims(env.state_dim, iteration, sample, seed)
    if pair is None:
        return prompt
    a, b = pair
    return f"{prompt}\nThis time start from s[{a}] and s[{b}]."


def focus_dims(state_dim: int, iteration: int, sample: int, seed: int) -> tuple[int, int] | None:
    """The pair of state dims sample k of an iteration starts from (None for a 1-D state)."""
    import random

    if state_dim < 2:
        return None
    rng = random.Random(f"lesr-focus-{seed}-{iteration}-{sample}")
    a, b = rng.sample(range(state_dim), 2)
    return a, b
