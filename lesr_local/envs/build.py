"""Build one gymnasium env from a MakePlan and flatten its observation to a float64 vector.

Dict (goal-based) observations are flattened in the plan's `obs_keys` order, so that the state the
LLM's `revise_state(s)` sees matches the per-dim descriptions index by index. gymnasium and MuJoCo
are imported inside the functions that need them: importing lesr_local.envs stays cheap, so the
catalogue (pure data) answers `lesr envs` without loading a simulator.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lesr_local.envs.registry import ensure_registered
from lesr_local.errors import BadInput

if TYPE_CHECKING:
    import gymnasium

# Preferred flattening order for dict observations nobody catalogued.
_KEY_ORDER = ("observation", "achieved_goal", "desired_goal")


@dataclass
class MakePlan:
    """Everything needed to build an env: what gymnasium.make gets and how to flatten."""

    env_id: str  # the id the user sees (canonical, or a custom spec's name)
    gym_id: str
    obs_keys: tuple[str, ...] | None = None  # None = decide from the space
    make_kwargs: dict[str, Any] = field(default_factory=dict)


def default_obs_keys(keys: list[str]) -> tuple[str, ...]:
    preferred = [k for k in _KEY_ORDER if k in keys]
    return tuple(preferred + sorted(k for k in keys if k not in preferred))


def observation_keys(space: Any, obs_keys: tuple[str, ...] | None) -> tuple[str, ...]:
    """The flattening order of a dict observation space (`obs_keys` when given); () for a Box."""
    from gymnasium import spaces

    if isinstance(space, spaces.Dict):
        return obs_keys or default_obs_keys(list(space.spaces))
    return ()


_seen_mujoco_warnings: set[str] = set()


def route_mujoco_warnings() -> None:
    """Send MuJoCo's warnings to Python logging (once each) instead of MUJOCO_LOG.TXT in the cwd.

    Without a handler MuJoCo appends every warning (e.g. gymnasium's deprecated `settotalmass`) to a
    log file in whatever folder the user happens to be in.
    """
    import mujoco

    def _warn(message: str) -> None:
        if message not in _seen_mujoco_warnings:
            _seen_mujoco_warnings.add(message)
            logging.getLogger("lesr_local.mujoco").debug("MuJoCo: %s", message.strip())

    mujoco.set_mju_user_warning(_warn)


def make_from_plan(plan: MakePlan, seed: int | None = None, render_mode: str | None = None) -> gymnasium.Env:
    import gymnasium

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
    """The env with one flat float64 Box observation: dict entries concatenated in `obs_keys` order
    (the default order when None), a Box cast and raveled."""
    from gymnasium import spaces
    from gymnasium.wrappers import TransformObservation

    space = env.observation_space
    if isinstance(space, spaces.Dict):
        keys = observation_keys(space, obs_keys)
        missing = [k for k in keys if k not in space.spaces]
        if missing:
            raise BadInput(f"observation of {env.spec.id if env.spec else 'env'} has no key(s) {missing}")
        parts = [space.spaces[k] for k in keys]
    elif isinstance(space, spaces.Box):
        keys, parts = (), [space]
    else:
        raise BadInput(f"unsupported observation space {type(space).__name__}: LESR needs Box or Dict of Box")
    low = np.concatenate([np.asarray(s.low, dtype=np.float64).ravel() for s in parts])
    high = np.concatenate([np.asarray(s.high, dtype=np.float64).ravel() for s in parts])
    return TransformObservation(env, functools.partial(flat_vector, keys=keys),
                                spaces.Box(low, high, dtype=np.float64))


def flat_vector(observation: Any, keys: tuple[str, ...]) -> np.ndarray:
    """One observation as a flat float64 vector (dict entries in `keys` order; () = a Box value)."""
    if not keys:
        return np.asarray(observation, dtype=np.float64).ravel()
    return np.concatenate([np.asarray(observation[k], dtype=np.float64).ravel() for k in keys])
