"""Replay buffer: preallocated float32 tensors on the training device, sized to the run.

Transitions are written one row at a time (host -> device copy of a few floats) and sampled as
index_select gathers, so a batch never passes through numpy or float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass
class Batch:
    obs: torch.Tensor
    act: torch.Tensor
    reward: torch.Tensor  # stored reward (extrinsic + w * intrinsic), shape (batch,)
    next_obs: torch.Tensor
    not_done: torch.Tensor  # 0.0 only on a true termination (never on a time-limit truncation)


class ReplayBuffer:
    def __init__(self, obs_dim: int, act_dim: int, capacity: int, device: torch.device) -> None:
        self.capacity = max(1, int(capacity))
        self.device = device
        # One row = obs | act | reward | next_obs | not_done: a single tensor, a single gather.
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.width = 2 * obs_dim + act_dim + 2
        self.data = torch.zeros(self.capacity, self.width, dtype=torch.float32, device=device)
        self._row = torch.zeros(self.width, dtype=torch.float32)
        self.ptr = 0
        self.size = 0

    @property
    def nbytes(self) -> int:
        return self.data.element_size() * self.data.nelement()

    def add(
        self, obs: np.ndarray, act: np.ndarray, reward: float, next_obs: np.ndarray, terminated: bool,
    ) -> None:
        o, a = self.obs_dim, self.act_dim
        row = self._row.numpy()
        row[:o] = obs
        row[o:o + a] = act
        row[o + a] = reward
        row[o + a + 1:o + a + 1 + o] = next_obs
        row[-1] = 0.0 if terminated else 1.0
        self.data[self.ptr].copy_(self._row, non_blocking=False)
        self.ptr = (self.ptr + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        idx = torch.randint(0, self.size, (batch_size,), device=self.device, generator=generator)
        rows = self.data.index_select(0, idx)
        o, a = self.obs_dim, self.act_dim
        return Batch(
            obs=rows[:, :o], act=rows[:, o:o + a], reward=rows[:, o + a],
            next_obs=rows[:, o + a + 1:o + a + 1 + o], not_done=rows[:, -1],
        )

    def state_dict(self) -> dict[str, Any]:
        filled = self.capacity if self.size == self.capacity else self.ptr
        # A view on the CPU, not a copy: a checkpoint streams it out before the next add.
        return {"data": self.data[:filled].detach().cpu(), "ptr": self.ptr, "size": self.size,
                "capacity": self.capacity}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore rows; a buffer of a shorter training that never wrapped fits a larger capacity
        unchanged (sampling draws from [0, size) either way), which is what prefix extension needs."""
        saved_capacity, size = int(state["capacity"]), int(state["size"])
        grows = saved_capacity < self.capacity and size < saved_capacity
        if (saved_capacity != self.capacity and not grows) or state["data"].shape[1] != self.width:
            raise ValueError("replay buffer checkpoint does not match this run's shapes")
        filled = state["data"].shape[0]
        self.data[:filled].copy_(state["data"].to(self.device))
        self.ptr, self.size = int(state["ptr"]), int(state["size"])
