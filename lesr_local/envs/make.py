"""make_env / sample_states: real gymnasium envs with a flat float64 Box observation, by env id.

Resolves an id (catalogued, an older paper id, any registered gymnasium id, or a `--env-spec` TOML)
into a MakePlan and builds it with lesr_local.envs.build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lesr_local.envs.build import MakePlan, make_from_plan
from lesr_local.envs.entries import CATALOGUE
from lesr_local.envs.ids import resolve_env_id
from lesr_local.envs.registry import ensure_registered
from lesr_local.envs.spec_file import load_spec_file, resolve_spec
from lesr_local.errors import BadInput

if TYPE_CHECKING:
    import gymnasium


def plan_for(env_id: str, env_spec: str | None = None) -> MakePlan:
    if env_spec:
        spec = load_spec_file(env_spec, env_id)
        resolve_spec(spec)
        return MakePlan(spec.env_id, spec.gym_id, spec.obs_keys, dict(spec.make_kwargs))
    canonical = resolve_env_id(env_id)
    if canonical in CATALOGUE:
        info = CATALOGUE[canonical]()
        return MakePlan(canonical, info.gym_id or canonical, info.obs_keys, dict(info.make_kwargs))
    return MakePlan(canonical, canonical)


def make_env(
    env_id: str, seed: int | None = None, render_mode: str | None = None, env_spec: str | None = None,
) -> gymnasium.Env:
    """A real gymnasium env with a flat float64 Box observation (old ids mapped, dicts flattened)."""
    return make_from_plan(plan_for(env_id, env_spec), seed=seed, render_mode=render_mode)


def sample_states(env_id: str, n: int, seed: int = 0, env_spec: str | None = None) -> np.ndarray:
    """`n` real states (float64, shape (n, state_dim)) from uniformly random actions, resetting at
    episode ends; used to smoke-test candidate code on states it will actually see."""
    if n < 1:
        raise BadInput(f"sample_states needs n >= 1, got {n}")
    env = make_env(env_id, env_spec=env_spec)
    try:
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        states = [obs]
        while len(states) < n:
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            states.append(obs)
            if (terminated or truncated) and len(states) < n:
                obs, _ = env.reset()
                states.append(obs)
        return np.asarray(states[:n], dtype=np.float64)
    finally:
        env.close()


def episode_success(info: dict[str, Any]) -> bool:
    """Success flag of the last step's info: FetchPush `is_success`, AntMaze / Adroit `success`."""
    for key in ("is_success", "success"):
        if key in info:
            return bool(np.asarray(info[key]).any())
    return False


def env_max_episode_steps(env_id: str, env_spec: str | None = None) -> int | None:
    """The registered time limit (None when the env has none)."""
    import gymnasium

    plan = plan_for(env_id, env_spec)
    if "max_episode_steps" in plan.make_kwargs:
        return int(plan.make_kwargs["max_episode_steps"])
    if not ensure_registered(plan.gym_id):
        raise BadInput(f"gymnasium id {plan.gym_id!r} is not registered")
    steps = gymnasium.spec(plan.gym_id).max_episode_steps
    return int(steps) if steps is not None else None
