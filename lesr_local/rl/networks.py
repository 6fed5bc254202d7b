"""TD3 networks: a deterministic actor and both critics evaluated as one batched ensemble.

The twin critics share their input, so instead of two separate MLPs (two sets of small matmuls and
twice the autograd bookkeeping) they are stored as stacked weights `(2, fan_in, fan_out)` and run with
`baddbmm`. Initialisation matches `nn.Linear`'s default, so learning behaves as with separate critics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    last = in_dim
    for width in hidden:
        layers += [nn.Linear(last, width), nn.ReLU()]
        last = width
    layers.append(nn.Linear(last, out_dim))
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """obs -> action in [low, high] (tanh squashed, then scaled to the action box)."""

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: Sequence[int], act_low: torch.Tensor,
        act_high: torch.Tensor,
    ) -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden, act_dim)
        self.register_buffer("act_scale", ((act_high - act_low) / 2).float())
        self.register_buffer("act_bias", ((act_high + act_low) / 2).float())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs)) * self.act_scale + self.act_bias


class EnsembleLinear(nn.Module):
    """`members` independent linear layers applied to a batch of shape (members, batch, in)."""

    def __init__(self, members: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)  # nn.Linear's default init, per member
        self.weight = nn.Parameter(torch.empty(members, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class TwinCritic(nn.Module):
    """Q1 and Q2 of TD3 as a 2-member ensemble: forward returns shape (2, batch)."""

    members = 2

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        dims = [obs_dim + act_dim, *hidden, 1]
        self.layers = nn.ModuleList(
            EnsembleLinear(self.members, dims[i], dims[i + 1]) for i in range(len(dims) - 1)
        )

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, act], dim=-1).unsqueeze(0).expand(self.members, -1, -1)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x).squeeze(-1)

    def q1(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """Only the first critic (TD3's actor loss), shape (batch,)."""
        x = torch.cat([obs, act], dim=-1)
        for layer in self.layers[:-1]:
            x = torch.relu(torch.addmm(layer.bias[0], x, layer.weight[0]))
        last = self.layers[-1]
        return torch.addmm(last.bias[0], x, last.weight[0]).squeeze(-1)
