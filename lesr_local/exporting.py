"""`lesr export --format wrapper`: a self-contained module with the candidate's F/G and a gymnasium wrapper.

The written module depends on gymnasium and numpy only. `LesrWrapper(gymnasium.make(ENV_ID))` gives
observation F(s) (the flattened source state, then the extra dims) and the reward the run trained
with (rl/feature_env.py, rl/trainer.py): additive r + w * G(F(s')), or potential
r + w * (gamma * Phi(s') - Phi(s)) with Phi = G(F(.)), Phi(s') = 0 after a true termination (not after
a time-limit truncation) and Phi(s_0) = G(F(reset state)) at each episode start. The wrapper records
its constructor arguments (gymnasium's `RecordConstructorArgs`), so `env.spec.make()` and vector envs
built from the spec recreate it. The module executes LLM-written code in whatever process imports
it; its header says so.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from lesr_local.experiments.comparison_text import comparison_text

UNSANDBOXED_WARNING = (
    "WARNING: this module executes LLM-written code (revise_state, intrinsic_reward) in the process\n"
    "that imports it, outside any sandbox. lesr-local only ever ran it inside sandboxed worker\n"
    "processes. Read the code before you use it."
)


@dataclass(frozen=True)
class WrapperSource:
    run_id: str
    env_id: str  # lesr-local's id for the env
    gym_id: str  # what gymnasium.make gets
    make_kwargs: dict[str, Any]
    obs_keys: tuple[str, ...]  # dict observations are flattened in this order
    candidate_id: str
    search_score: float | None
    intrinsic_weight: float
    shaping: str  # additive | potential: how the run put G into the reward
    gamma: float  # the run's discount (potential shaping uses it)
    state_dim: int
    extra_dims: int
    final: dict[str, Any] | None  # the run summary's final evaluation
    verdict: str | None  # the run summary's verdict sentence
    code: str


def paragraph(text: str) -> str:
    """Docstring text wrapped at 100 columns."""
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False)


def shaping_text(shaping: str, weight: float, gamma: float) -> str:
    """The reward the run trained with, in words, for the exported docstrings."""
    if shaping == "potential":
        return (f"potential shaping, r + w * (gamma * Phi(s') - Phi(s)) with Phi(s) = intrinsic_reward(revise_state(s)), "
                f"w = {weight:g}, gamma = {gamma:g}; Phi(s') = 0 when the step truly terminates the episode "
                "(not on a time-limit truncation), and Phi(s_0) = intrinsic_reward(revise_state(s_0)) at each "
                "episode start")
    return (f"additive shaping, r + w * intrinsic_reward(revise_state(s')), w = {weight:g}, s' being the "
            "state the step led to")


def final_figures(final: dict[str, Any] | None, verdict: str | None = None) -> str:
    """The final evaluation in a few sentences (arms, difference with both intervals, verdict), or why there is none."""
    if not final or not final.get("best") or final["best"].get("mean") is None:
        return "No final evaluation recorded for this run."

    def arm(a: dict[str, Any]) -> str:
        if a.get("mean") is None:
            return "-"
        spread = "" if a.get("std") is None else f" ± {a['std']:.2f}"
        return f"{a['mean']:.2f}{spread} over {a['seeds']} seed{'s' if a['seeds'] != 1 else ''}"

    steps = final.get("steps")
    text = (f"Final evaluation{'' if steps is None else f' ({steps} steps per seed)'}: LESR {arm(final['best'])}, "
            f"raw state {arm(final.get('baseline') or {})}")
    difference, relative = final.get("improvement"), final.get("improvement_relative")
    if verdict:  # the sentence carries the intervals, the seed count and its caveats
        figure = "" if difference is None else f"; difference {difference:+.4g}" + (
            "" if relative is None else f" ({relative:+.1%})")
        return f"{text}{figure}. Verdict: {verdict}."
    return text + "; " + comparison_text(difference, relative, final.get("improvement_ci95"),
                                         final.get("improvement_ci95_t"), final.get("verdict"),
                                         has_t="improvement_ci95_t" in final) + "."


def wrapper_text(src: WrapperSource) -> str:
    score = "n/a" if src.search_score is None else f"{src.search_score:.4f}"
    origin = paragraph(f"Exported by lesr-local from run {src.run_id}, candidate {src.candidate_id} (search score "
                       f"{score}), env {src.env_id}. {final_figures(src.final, src.verdict)}")
    reward = paragraph(f"Reward: what the run trained with, {shaping_text(src.shaping, src.intrinsic_weight, src.gamma)}.")
    return f'''"""LESR state representation for {src.env_id} as a gymnasium wrapper.

{UNSANDBOXED_WARNING}

{origin}

    import gymnasium
    from this_module import LesrWrapper, make_env
    env = LesrWrapper(gymnasium.make({src.gym_id!r}))
    env = LesrWrapper(make_env())   # gymnasium.make with the options lesr-local used

Observation: F(s) = revise_state(s), the {src.state_dim} source dims followed by {src.extra_dims} extra dims.
{reward}
LesrWrapper(env, intrinsic_weight=..., shaping="additive" or "potential", gamma=...) changes them (defaults:
the run's). info["extrinsic_reward"] is r, info["intrinsic_reward"] is intrinsic_reward(revise_state(s'))
and info["shaping_term"] is what w multiplies.
The wrapper records its arguments (gymnasium.utils.RecordConstructorArgs), so env.spec.make() and vector
envs made from env.spec recreate it; they import this module by its name, so import it as a module.
"""

from __future__ import annotations

import math  # noqa: F401 - for the candidate code
import gymnasium
import numpy as np

RUN_ID = {src.run_id!r}
ENV_ID = {src.env_id!r}
GYM_ID = {src.gym_id!r}
MAKE_KWARGS = {src.make_kwargs!r}
OBS_KEYS = {tuple(src.obs_keys)!r}
CANDIDATE_ID = {src.candidate_id!r}
INTRINSIC_WEIGHT = {src.intrinsic_weight!r}
SHAPING = {src.shaping!r}  # additive | potential
GAMMA = {src.gamma!r}
STATE_DIM = {src.state_dim!r}
EXTRA_DIMS = {src.extra_dims!r}
FINAL_EVALUATION = {src.final!r}

# ---- LLM-written candidate code (unsandboxed here) -------------------------------------------

{src.code.strip()}

# ---- end of the candidate code --------------------------------------------------------------


def flatten_observation(obs):
    """The source state lesr-local trained on: float64, dict observations flattened by OBS_KEYS."""
    if isinstance(obs, dict):
        return np.concatenate([np.asarray(obs[key], dtype=np.float64).reshape(-1) for key in OBS_KEYS])
    return np.asarray(obs, dtype=np.float64).reshape(-1)


def make_env(**kwargs):
    """gymnasium.make(GYM_ID) with the options lesr-local used (kwargs override them)."""
    if GYM_ID not in gymnasium.registry:
        import gymnasium_robotics  # registers the Gymnasium-Robotics envs

        gymnasium.register_envs(gymnasium_robotics)
    return gymnasium.make(GYM_ID, **{{**MAKE_KWARGS, **kwargs}})


class LesrWrapper(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """Observation F(s) (source dims + extra dims); reward r + w * G(F(s')) (additive) or
    r + w * (gamma * Phi(s') - Phi(s)) with Phi = G(F(.)) (potential), as the run trained."""

    def __init__(self, env, intrinsic_weight=INTRINSIC_WEIGHT, shaping=SHAPING, gamma=GAMMA):
        if shaping not in ("additive", "potential"):
            raise ValueError(f"shaping must be 'additive' or 'potential', got {{shaping!r}}")
        gymnasium.utils.RecordConstructorArgs.__init__(
            self, intrinsic_weight=intrinsic_weight, shaping=shaping, gamma=gamma)
        gymnasium.Wrapper.__init__(self, env)
        self.intrinsic_weight = float(intrinsic_weight)
        self.shaping = shaping
        self.gamma = float(gamma)
        self._potential = None  # potential shaping: Phi of the current state, set by reset
        source = env.observation_space
        if isinstance(source, gymnasium.spaces.Box) and int(np.prod(source.shape)) == STATE_DIM:
            low = np.asarray(source.low, dtype=np.float64).reshape(-1)
            high = np.asarray(source.high, dtype=np.float64).reshape(-1)
        else:
            low, high = np.full(STATE_DIM, -np.inf), np.full(STATE_DIM, np.inf)
        extra = np.full(EXTRA_DIMS, np.inf)
        self.observation_space = gymnasium.spaces.Box(
            np.concatenate([low, -extra]), np.concatenate([high, extra]), dtype=np.float64)

    def features(self, obs):
        state = flatten_observation(obs)
        out = np.asarray(revise_state(state.copy()), dtype=np.float64).reshape(-1)
        if out.shape[0] != STATE_DIM + EXTRA_DIMS:
            expected = STATE_DIM + EXTRA_DIMS
            raise ValueError(f"revise_state returned {{out.shape[0]}} values, expected {{expected}}")
        return out

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        feats = self.features(obs)
        # Phi(s_0) = G(F(reset state)): each episode's shaping starts from its own first state.
        self._potential = float(intrinsic_reward(feats.copy())) if self.shaping == "potential" else None
        return feats, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        feats = self.features(obs)
        intrinsic = float(intrinsic_reward(feats.copy()))
        if self.shaping == "potential":
            if self._potential is None:
                raise RuntimeError("LesrWrapper.step called before reset")
            # A true termination ends the return: the terminal state's potential is 0. A time-limit
            # truncation does not end it, so s' keeps its potential there.
            term = self.gamma * (0.0 if terminated else intrinsic) - self._potential
            self._potential = intrinsic
        else:
            term = intrinsic
        info = dict(info)
        info["extrinsic_reward"] = float(reward)
        info["intrinsic_reward"] = intrinsic
        info["shaping_term"] = term
        return feats, float(reward) + self.intrinsic_weight * term, terminated, truncated, info
'''
