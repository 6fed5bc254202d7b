"""The states candidate code is checked on before it may train.

Steps 0-63 of one random episode are all near the reset pose: a candidate that divides by a
velocity, or whose features blow up once the body moves, passes such a check and fails in training.
So the check states are the reset states of several episodes (different seeds) plus states taken at
evenly spread steps of random-action rollouts of a few hundred steps each (an episode that ends
early simply contributes fewer steps).
"""

from __future__ import annotations

import numpy as np

from lesr_local.envs.make import make_env
from lesr_local.errors import BadInput

CHECK_EPISODES = 4
CHECK_HORIZON = 300  # steps per random rollout


def spread_states(env_id: str, n: int, seed: int = 0, env_spec: str | None = None, *,
                  episodes: int = CHECK_EPISODES, horizon: int = CHECK_HORIZON) -> tuple[np.ndarray, np.ndarray]:
    """`n` real states and their (episode, step) positions, shape (n, D) float64 and (n, 2) int.

    Every episode's reset state is included (when n allows); the rest are evenly spread over all the
    later steps of all rollouts. Episode e starts from reset(seed=seed + e): reproducible.
    """
    if n < 1:
        raise BadInput(f"spread_states needs n >= 1, got {n}")
    resets: list[tuple[np.ndarray, tuple[int, int]]] = []
    later: list[tuple[np.ndarray, tuple[int, int]]] = []
    env = make_env(env_id, env_spec=env_spec)
    try:
        env.action_space.seed(seed)
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + episode)
            resets.append((np.asarray(obs, dtype=np.float64), (episode, 0)))
            for step in range(1, horizon + 1):
                obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
                later.append((np.asarray(obs, dtype=np.float64), (episode, step)))
                if terminated or truncated:
                    break
    finally:
        env.close()
    chosen = resets[:n]
    wanted = n - len(chosen)
    if wanted > 0 and later:
        picks = np.unique(np.linspace(0, len(later) - 1, num=min(wanted, len(later))).round().astype(int))
        chosen += [later[i] for i in picks]
    distinct = len(chosen)
    while len(chosen) < n:  # fewer states than asked for (very short episodes): repeat them in order
        chosen.append(chosen[len(chosen) % distinct])
    states = np.stack([s for s, _ in chosen[:n]])
    positions = np.asarray([p for _, p in chosen[:n]], dtype=np.int64)
    return states, positions
