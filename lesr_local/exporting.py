"""`lesr export --format wrapper`: a self-contained module with the candidate's F/G and a gymnasium wrapper.

The written module depends on gymnasium and numpy only. `LesrWrapper(gymnasium.make(ENV_ID))` gives
observation F(s) (the flattened source state, then the extra dims) and reward r + w * G(F(s')), the
additive reward lesr-local trained with. The module executes LLM-written code in whatever process
imports it; its header says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    state_dim: int
    extra_dims: int
    final: dict[str, Any] | None  # the run summary's final evaluation
    code: str


def final_figures(final: dict[str, Any] | None) -> str:
    """The final evaluation in one line, or why there is none."""
    if not final or not final.get("best") or final["best"].get("mean") is None:
        return "No final evaluation recorded for this run"

    def arm(a: dict[str, Any]) -> str:
        return "-" if a.get("mean") is None else f"{a['mean']:.2f} ± {a['std']:.2f} over {a['seeds']} seeds"

    imp = final.get("improvement")
    steps = final.get("steps")
    return (f"Final evaluation{'' if steps is None else f' ({steps} steps per seed)'}: LESR {arm(final['best'])}, "
            f"raw state {arm(final['baseline'])}, improvement "
            + ("-" if imp is None else f"{imp * 100:+.1f}%"))


def wrapper_text(src: WrapperSource) -> str:
    score = "n/a" if src.search_score is None else f"{src.search_score:.4f}"
    return f'''"""LESR state representation for {src.env_id} as a gymnasium wrapper.

{UNSANDBOXED_WARNING}

Exported by lesr-local from run {src.run_id}, candidate {src.candidate_id} (search score {score}),
env {src.env_id}. {final_figures(src.final)}.

    import gymnasium
    from this_module import LesrWrapper, make_env
    env = LesrWrapper(gymnasium.make({src.gym_id!r}))
    env = LesrWrapper(make_env())   # gymnasium.make with the options lesr-local used

Observation: F(s) = revise_state(s), the {src.state_dim} source dims followed by {src.extra_dims} extra dims.
Reward: r + w * intrinsic_reward(F(s')), w = LesrWrapper(env, intrinsic_weight=...) (default {src.intrinsic_weight:g},
the run's). The extrinsic and intrinsic parts are in info["extrinsic_reward"] / info["intrinsic_reward"].
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


class LesrWrapper(gymnasium.Wrapper):
    """Observation F(s) (source dims + extra dims), reward r + w * G(F(s'))."""

    def __init__(self, env, intrinsic_weight=INTRINSIC_WEIGHT):
        super().__init__(env)
        self.intrinsic_weight = float(intrinsic_weight)
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

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return self.features(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        feats = self.features(obs)
        intrinsic = float(intrinsic_reward(feats.copy()))
        info = dict(info)
        info["extrinsic_reward"] = float(reward)
        info["intrinsic_reward"] = intrinsic
        return feats, float(reward) + self.intrinsic_weight * intrinsic, terminated, truncated, info
'''
