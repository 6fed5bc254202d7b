"""Per-dimension Lipschitz constants of the features against the extrinsic reward.

For one episode and one feature dim: sort the episode's states by that dim and take
max |r[i+1] - r[i]| / (|s[i+1] - s[i]| + 0.01) over sorted neighbours (O(T log T) per dim).
Across episodes the constants are smoothed with an EMA (tau = 0.005), bias-corrected like Adam's
moments: the raw EMA starts at 0, so after n updates it is divided by 1 - (1 - tau)^n.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EPSILON = 0.01


def episode_lipschitz(states: np.ndarray, rewards: np.ndarray, epsilon: float = EPSILON) -> np.ndarray:
    """states (T, D), rewards (T,) -> (D,) constants; zeros for an episode shorter than 2 steps."""
    states = np.asarray(states, dtype=np.float64)
    rewards = np.asarray(rewards, dtype=np.float64).reshape(-1)
    if states.ndim != 2 or states.shape[0] != rewards.shape[0]:
        raise ValueError(f"states {states.shape} and rewards {rewards.shape} do not match")
    if states.shape[0] < 2:
        return np.zeros(states.shape[1])
    order = np.argsort(states, axis=0, kind="stable")  # (T, D): per-dim sort
    sorted_states = np.take_along_axis(states, order, axis=0)
    sorted_rewards = rewards[order]
    ratios = np.abs(np.diff(sorted_rewards, axis=0)) / (np.abs(np.diff(sorted_states, axis=0)) + epsilon)
    return ratios.max(axis=0)


@dataclass
class LipschitzEMA:
    tau: float = 0.005
    raw: np.ndarray | None = None
    count: int = 0
    last: np.ndarray | None = field(default=None)

    def update(self, constants: np.ndarray) -> None:
        constants = np.asarray(constants, dtype=np.float64)
        if self.raw is None:
            self.raw = np.zeros_like(constants)
        self.raw = (1.0 - self.tau) * self.raw + self.tau * constants
        self.count += 1
        self.last = constants

    def value(self) -> np.ndarray | None:
        """Bias-corrected EMA (None before the first episode)."""
        if self.raw is None or self.count == 0:
            return None
        return self.raw / (1.0 - (1.0 - self.tau) ** self.count)

    def state_dict(self) -> dict[str, object]:
        return {"tau": self.tau, "raw": None if self.raw is None else self.raw.tolist(), "count": self.count}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.tau = float(state["tau"])  # type: ignore[arg-type]
        raw = state["raw"]
        self.raw = None if raw is None else np.asarray(raw, dtype=np.float64)
        self.count = int(state["count"])  # type: ignore[arg-type]
