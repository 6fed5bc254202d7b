"""Policy evaluation over M episodes with persistent envs, stepped in lockstep.

The M evaluation envs are built once per training and reused; each evaluation resets them with
fresh deterministic seeds, steps all unfinished episodes together and asks the policy for all their
actions in one batched forward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium
import numpy as np

from lesr_local.envs.make import episode_success, make_env
from lesr_local.rl.features import Features

Policy = Callable[[np.ndarray], np.ndarray]  # (n, feature_dim) -> (n, act_dim)


MAX_PARALLEL_ENVS = 10  # envs kept for evaluation; more episodes run in waves of this size


class Evaluator:
    def __init__(
        self, env_id: str, episodes: int, seed: int, features: Features, metric: str = "return",
        env_spec: str | None = None,
    ) -> None:
        self.episodes = max(1, episodes)
        count = min(self.episodes, MAX_PARALLEL_ENVS)
        self.envs: list[gymnasium.Env] = [make_env(env_id, env_spec=env_spec) for _ in range(count)]
        self.seed = seed
        self.features = features
        self.metric = metric
        self.evaluations = 0
        self.feature_calls = 0  # revise_state calls made by evaluations (the rest are training's)

    def episode_seed(self, evaluation: int, episode: int) -> int:
        return ((self.seed + 100) * 1_000_003 + evaluation * self.episodes + episode) % 2**31

    def run(self, policy: Policy, evaluation: int | None = None) -> float:
        """Mean episode return, or the success rate when the env's metric is `success_rate`."""
        k = self.evaluations if evaluation is None else evaluation
        self.evaluations = k + 1
        calls_before = self.features.calls
        returns: list[float] = []
        successes: list[bool] = []
        for first in range(0, self.episodes, len(self.envs)):
            seeds = [self.episode_seed(k, e) for e in range(first, min(first + len(self.envs), self.episodes))]
            wave_returns, wave_success = self._wave(policy, k, seeds)
            returns += wave_returns
            successes += wave_success
        self.feature_calls += self.features.calls - calls_before
        return float(np.mean(successes)) if self.metric == "success_rate" else float(np.mean(returns))

    def _wave(self, policy: Policy, k: int, seeds: list[int]) -> tuple[list[float], list[bool]]:
        """One episode per seed, all envs stepped in lockstep with one batched policy call per step."""
        n = len(seeds)
        envs = self.envs[:n]
        states = [env.reset(seed=seed)[0] for env, seed in zip(envs, seeds, strict=True)]
        feats = [self.features.transform(s, f"in evaluation {k} (reset)") for s in states]
        returns = [0.0] * n
        success = [False] * n
        active = list(range(n))
        t = 0
        while active:
            actions = policy(np.stack([feats[i] for i in active]))
            still: list[int] = []
            for row, i in enumerate(active):
                state, reward, terminated, truncated, info = envs[i].step(actions[row])
                returns[i] += float(reward)
                if terminated or truncated:
                    success[i] = episode_success(info)
                    continue
                feats[i] = self.features.transform(state, f"in evaluation {k} at step {t}")
                still.append(i)
            active = still
            t += 1
        return returns, success

    def close(self) -> None:
        for env in self.envs:
            env.close()
