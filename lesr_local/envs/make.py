"""make_env / sample_states: real gymnasium envs with a flat float64 Box observation.

Dict (goal-based) observations are flattened in the catalogue's `obs_keys` order, so that the state
the LLM's `revise_state(s)` sees matches the per-dim descriptions index by index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from lesr_local.errors import BadInput

# Preferred flattening order for dict observations nobody catalogued.
_KEY_ORDER = ("observation", "achieved_goal", "desired_goal")


@dataclass
class MakePlan:
    """Everything needed to build an env: what gymnasium.make gets and how to flatten."""

    env_id: str  # the id the user sees (canonical, or a custom spec's name)
    gym_id: str
    obs_keys: tuple[str, ...] | None = None  # None = decide from the space
    make_kwargs: dict[str, Any] = field(default_factory=dict)


def plan_for(env_id: str, env_spec: str | None = None) -> MakePlan:
    if env_spec:
        from lesr_local.envs.spec_file import load_spec_file, resolve_spec

        spec = load_spec_file(env_spec, env_id)
        resolve_spec(spec)
        return MakePlan(spec.env_id, spec.gym_id, spec.obs_keys, dict(spec.make_kwargs))
    from lesr_local.envs.catalogue import CATALOGUE
    from lesr_local.envs.ids import resolve_env_id

    canonical = resolve_env_id(env_id)
    if canonical in CATALOGUE:
        info = CATALOGUE[canonical]()
        return MakePlan(canonical, info.gym_id or canonical, info.obs_keys, dict(info.make_kwargs))
    return MakePlan(canonical, canonical)


def default_obs_keys(keys: list[str]) -> tuple[str, ...]:
    preferred = [k for k in _KEY_ORDER if k in keys]
    return tuple(preferred + sorted(k for k in keys if k not in preferred))


_seen_mujoco_warnings: set[str] = set()


def route_mujoco_warnings() -> None:
    """Send MuJoCo's warnings to Python logging (once each) instead of MUJOCO_LOG.TXT in the cwd.

    Without a handler MuJoCo appends every warning (e.g. gymnasium's deprecated `settotalmass`) to a
    log file in whatever folder the user happens to be in.
    """
    import logging

    import mujoco

    def _warn(message: str) -> None:
        if message not in _seen_mujoco_warnings:
            _seen_mujoco_warnings.add(message)
            logging.getLogger("lesr_local.mujoco").debug("MuJoCo: %s", message.strip())

    mujoco.set_mju_user_warning(_warn)


def make_from_plan(plan: MakePlan, seed: int | None = None, render_mode: str | None = None) -> gymnasium.Env:
    from lesr_local.envs.registry import ensure_registered

    route_mujoco_warnings()
    if not ensure_registered(plan.gym_id):
        raise BadInput(f"gymnasium id {plan.gym_id!r} is not registered")
    try:
        env = gymnasium.make(plan.gym_id, render_mode=render_mode, **plan.make_kwargs)
    except TypeError as exc:  # unknown make kwargs from a spec file
        raise BadInput(f"cannot make {plan.gym_id!r}: {exc}") from None
    env = flatten_observation(env, plan.obs_keys)
    if seed is not None:
        # Seeds the env's RNG for this and all later resets, and the action space for random actions.
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def flatten_observation(env: gymnasium.Env, obs_keys: tuple[str, ...] | None) -> gymnasium.Env:
    space = env.observation_space
    if isinstance(space, spaces.Dict):
        keys = obs_keys or default_obs_keys(list(space.spaces))
        missing = [k for k in keys if k not in space.spaces]
        if missing:
            raise BadInput(f"observation of {env.spec.id if env.spec else 'env'} has no key(s) {missing}")
        return FlatObservation(env, keys)
    if isinstance(space, spaces.Box):
        return FlatObservation(env, None)
    raise BadInput(f"unsupported observation space {type(space).__name__}: LESR needs Box or Dict of Box")


class FlatObservation(gymnasium.ObservationWrapper):
    """Concatenates dict entries (in `keys` order) / casts a Box into one flat float64 vector."""

    def __init__(self, env: gymnasium.Env, keys: tuple[str, ...] | None) -> None:
        super().__init__(env)
        self.obs_keys = keys
        sub = [env.observation_space] if keys is None else [env.observation_space.spaces[k] for k in keys]
        low = np.concatenate([np.asarray(s.low, dtype=np.float64).ravel() for s in sub])
        high = np.concatenate([np.asarray(s.high, dtype=np.float64).ravel() for s in sub])
        self.observation_space = spaces.Box(low, high, dtype=np.float64)

    def observation(self, observation: Any) -> np.ndarray:
        if self.obs_keys is None:
            return np.asarray(observation, dtype=np.float64).ravel()
        return np.concatenate([np.asarray(observation[k], dtype=np.float64).ravel() for k in self.obs_keys])


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
    from lesr_local.envs.registry import ensure_registered

    plan = plan_for(env_id, env_spec)
    if "max_episode_steps" in plan.make_kwargs:
        return int(plan.make_kwargs["max_episode_steps"])
    if not ensure_registered(plan.gym_id):
        raise BadInput(f"gymnasium id {plan.gym_id!r} is not registered")
    steps = gymnasium.spec(plan.gym_id).max_episode_steps
    return int(steps) if steps is not None else None
