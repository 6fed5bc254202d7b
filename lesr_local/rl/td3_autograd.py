"""TD3 (Fujimoto, van Hoof & Meger 2018), written the usual way: the definition to read.

Separate actor and twin critic MLPs, autograd, torch.optim.Adam, targets updated parameter by
parameter; read it top to bottom. `rl/td3.py` is the same algorithm with the backward pass written
out by hand over flat tensors (what the search trains with, ~2x faster on a CPU);
`tests/test_rl_td3.py` checks the two against each other update for update, and `lesr bench td3`
uses this one in its reference-style loop.

One update, given a batch (s, a, r, s', not_done):
1. target action  a' = clip(pi_target(s') + clip(N(0, policy_noise) * scale, +-noise_clip * scale), low, high)
2. target value   y  = r + gamma * not_done * min(Q1_target(s', a'), Q2_target(s', a'))
3. critic loss    (Q1(s, a) - y)^2 + (Q2(s, a) - y)^2, one Adam step on both critics
4. every `policy_delay` updates: actor loss -Q1(s, pi(s)), one Adam step on the actor, then every
   target parameter moves a fraction tau towards its network's.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lesr_local.config import TD3Config
from lesr_local.rl.buffer import Batch


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class AutogradTD3:
    def __init__(self, obs_dim: int, act_dim: int, act_low: np.ndarray, act_high: np.ndarray,
                 cfg: TD3Config) -> None:
        hidden = list(cfg.hidden_sizes)
        self.cfg = cfg
        self.actor = mlp([obs_dim, *hidden, act_dim])
        self.q1 = mlp([obs_dim + act_dim, *hidden, 1])
        self.q2 = mlp([obs_dim + act_dim, *hidden, 1])
        self.actor_target = copy.deepcopy(self.actor)
        self.q1_target, self.q2_target = copy.deepcopy(self.q1), copy.deepcopy(self.q2)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_opt = torch.optim.Adam([*self.q1.parameters(), *self.q2.parameters()], lr=cfg.critic_lr)
        self.low = torch.as_tensor(act_low, dtype=torch.float32)
        self.high = torch.as_tensor(act_high, dtype=torch.float32)
        self.scale, self.bias = (self.high - self.low) / 2, (self.high + self.low) / 2
        self.updates = 0

    def pi(self, net: nn.Module, obs: torch.Tensor) -> torch.Tensor:
        """The policy's action: tanh squashed into the action box."""
        return torch.tanh(net(obs)) * self.scale + self.bias

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.pi(self.actor, torch.as_tensor(obs, dtype=torch.float32)).numpy().astype(np.float64)

    def update(self, b: Batch) -> None:
        cfg = self.cfg
        self.updates += 1
        with torch.no_grad():
            noise = (torch.randn_like(b.act) * cfg.policy_noise).clamp(-cfg.noise_clip, cfg.noise_clip)
            next_act = self.pi(self.actor_target, b.next_obs) + noise * self.scale
            next_act = torch.max(torch.min(next_act, self.high), self.low)
            next_sa = torch.cat([b.next_obs, next_act], 1)
            next_q = torch.min(self.q1_target(next_sa), self.q2_target(next_sa)).squeeze(-1)
            target = b.reward + cfg.gamma * b.not_done * next_q
        sa = torch.cat([b.obs, b.act], 1)
        critic_loss = F.mse_loss(self.q1(sa).squeeze(-1), target) + F.mse_loss(self.q2(sa).squeeze(-1), target)
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        if self.updates % cfg.policy_delay == 0:
            actor_loss = -self.q1(torch.cat([b.obs, self.pi(self.actor, b.obs)], 1)).mean()
            self.actor_opt.zero_grad()
            actor_loss.backward()
            self.actor_opt.step()
            with torch.no_grad():
                for net, target_net in ((self.q1, self.q1_target), (self.q2, self.q2_target),
                                        (self.actor, self.actor_target)):
                    for param, target_param in zip(net.parameters(), target_net.parameters(), strict=True):
                        target_param.copy_(cfg.tau * param + (1 - cfg.tau) * target_param)
