"""F and G as a gymnasium wrapper, for library algorithms (SB3's SAC/PPO/TD3) inside the training worker.

The observation is F(s) (float32, the source dims then the candidate's extra dims) and the reward is
r + w * G(F(s')), or with `shaping="potential"` r + w * (gamma * G(F(s')) - G(F(s))) with the
potential 0 after a true termination (not after a time-limit truncation): the same stored reward as
our own TD3 (rl/trainer.py). Every call goes through
`rl.features.Features`, so the runtime checks apply and a failing candidate raises `CandidateError`
with its one-line reason. The wrapper also keeps what the trainer reports: the last extrinsic episode
return, the episode count and the per-episode Lipschitz constants of F(s') against r.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

from lesr_local.rl.features import Features
from lesr_local.rl.lipschitz import LipschitzEMA, episode_lipschitz


class FeatureRewardWrapper(gymnasium.Wrapper):
    def __init__(self, env: gymnasium.Env, features: Features, intrinsic_weight: float,
                 feature_dim: int, shaping: str = "additive", gamma: float = 0.99) -> None:
        super().__init__(env)
        self.features = features
        self.weight = intrinsic_weight
        self.shaping = shaping
        self.gamma = gamma
        self._phi: float | None = None  # potential shaping: G(F(s)) of the current state
        self._feats = np.zeros(feature_dim)  # F(s) of the current state (set by reset)
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (feature_dim,), np.float32)
        self.steps = 0  # env steps taken through this wrapper (training steps)
        self.episodes = 0
        self.last_return: float | None = None
        self.lipschitz = LipschitzEMA()
        self._episode_feats: list[np.ndarray] = []
        self._episode_rewards: list[float] = []
        self._episode_return = 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        state, info = self.env.reset(seed=seed, options=options)
        self._episode_feats, self._episode_rewards, self._episode_return = [], [], 0.0
        feats = self.features.transform(state, f"at step {self.steps} (reset)")
        self._feats, self._phi = feats, None
        return feats.astype(np.float32), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        state, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        where = f"at step {self.steps}"
        feats = self.features.transform(state, where)
        extrinsic = float(reward)
        total = extrinsic + self.weight * self._shaping_term(feats, bool(terminated), where) if self.weight else extrinsic
        self._feats = feats
        self._episode_feats.append(feats)
        self._episode_rewards.append(extrinsic)
        self._episode_return += extrinsic
        if terminated or truncated:
            self._end_episode()
        return feats.astype(np.float32), total, bool(terminated), bool(truncated), info

    def _shaping_term(self, feats: np.ndarray, terminated: bool, where: str) -> float:
        g_next = self.features.intrinsic(feats, where)
        if self.shaping != "potential":
            return g_next
        if self._phi is None:  # the episode's first step: Phi(s_0) = G(F(reset state))
            self._phi = self.features.intrinsic(self._feats, f"{where} (episode start)")
        term = self.gamma * (0.0 if terminated else g_next) - self._phi
        self._phi = g_next
        return term

    def _end_episode(self) -> None:
        if len(self._episode_feats) >= 2:
            self.lipschitz.update(episode_lipschitz(np.stack(self._episode_feats),
                                                    np.asarray(self._episode_rewards)))
        self.last_return = self._episode_return
        self.episodes += 1
        self._episode_feats, self._episode_rewards, self._episode_return = [], [], 0.0
