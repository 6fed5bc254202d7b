"""Refuse an algorithm on an env whose action space it cannot drive (built once; no candidate code runs)."""

from __future__ import annotations

import gymnasium

from lesr_local.envs.make import make_env
from lesr_local.errors import BadInput
from lesr_local.rl.algos import CONTINUOUS_ONLY, SB3_TD3


def require_continuous(algo: str, env_id: str, env_spec: str | None = None) -> None:
    """BadInput when `algo` needs continuous actions and the env's are not (builds the env once;
    no candidate code is involved)."""
    if algo not in CONTINUOUS_ONLY:
        return
    env = make_env(env_id, env_spec=env_spec)
    try:
        space = env.action_space
        if not isinstance(space, gymnasium.spaces.Box):
            name = "SB3's TD3" if algo == SB3_TD3 else algo.upper()
            raise BadInput(f"{name} needs a continuous (Box) action space; {env_id} has a "
                           f"{type(space).__name__} one")
    finally:
        env.close()
