"""TD3 (Fujimoto et al., 2018): clipped double-Q, delayed policy updates, target policy smoothing.

Read rl/td3_autograd.py first: the same algorithm in plain autograd, the definition this file is
checked against. This is the one that trains, written for speed.

The algorithm is the original's, step for step; what differs is how the update runs (see
rl.networks): both critics are one stacked network, gradients are written out by hand instead of
going through autograd, each network's parameters, gradients and Adam state are single flat tensors
(one fused Adam call, one `lerp_` for the soft target update), and nothing in `update` syncs with the
host. tests/test_rl_td3.py checks the update against a plain autograd implementation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lesr_local.config import TD3Config
from lesr_local.rl.buffer import Batch
from lesr_local.rl.networks import Actor, FlatAdam, StackedMLP

STATE_FORMAT = "stacked-mlp-1"  # layout of state_dict(); checkpoints in another layout are not resumed
_NETWORKS = ("actor", "actor_target", "critic", "critic_target")
Q1 = slice(0, 1)  # the critic the actor is trained against


class TD3:
    def __init__(
        self, obs_dim: int, act_dim: int, act_low: np.ndarray, act_high: np.ndarray, config: TD3Config,
        device: torch.device,
    ) -> None:
        self.config = config
        self.device = device
        self.obs_dim, self.act_dim = obs_dim, act_dim
        low = torch.as_tensor(act_low, dtype=torch.float32, device=device)
        high = torch.as_tensor(act_high, dtype=torch.float32, device=device)
        self.act_low, self.act_high = low, high
        self.act_scale, self.act_bias = (high - low) / 2, (high + low) / 2
        hidden = tuple(config.hidden_sizes)
        self.actor = StackedMLP(1, (obs_dim, *hidden, act_dim), device)
        self.critic = StackedMLP(2, (obs_dim + act_dim, *hidden, 1), device)
        self.actor_target = StackedMLP(1, self.actor.dims, device)
        self.critic_target = StackedMLP(2, self.critic.dims, device)
        self.actor_target.data.copy_(self.actor.data)
        self.critic_target.data.copy_(self.critic.data)
        self.actor_opt = FlatAdam(self.actor, config.actor_lr)
        self.critic_opt = FlatAdam(self.critic, config.critic_lr)
        self.updates = 0

    def _policy(self, net: StackedMLP, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(action, tanh output, layer inputs) for obs of shape (batch, obs_dim)."""
        pre, inputs = net.forward(obs.unsqueeze(0))
        squashed = pre.squeeze(0).tanh_()
        return squashed * self.act_scale + self.act_bias, squashed, inputs

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic action(s) for one observation (dim,) or a batch (n, dim)."""
        x = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        action, _, _ = self._policy(self.actor, x.reshape(-1, self.obs_dim))
        return action.reshape(*x.shape[:-1], self.act_dim).cpu().numpy()

    @torch.no_grad()
    def update(self, batch: Batch) -> None:
        cfg = self.config
        n = batch.obs.shape[0]
        # Target: r + gamma * (1 - terminated) * min(Q1', Q2')(s', smoothed pi'(s')).
        noise = (torch.randn_like(batch.act) * cfg.policy_noise).clamp_(-cfg.noise_clip, cfg.noise_clip)
        next_act, _, _ = self._policy(self.actor_target, batch.next_obs)
        next_act = torch.max(torch.min(next_act.add_(noise * self.act_scale), self.act_high), self.act_low)
        next_in = torch.cat([batch.next_obs, next_act], dim=1).expand(2, -1, -1)
        next_q, _ = self.critic_target.forward(next_in)
        target = batch.reward + cfg.gamma * batch.not_done * next_q.squeeze(-1).amin(dim=0)

        # Critic: loss = sum over both critics of mean((Q - target)^2), as in the original.
        q, inputs = self.critic.forward(torch.cat([batch.obs, batch.act], dim=1).expand(2, -1, -1))
        grad_q = (q.squeeze(-1) - target).mul_(2.0 / n).unsqueeze(-1)
        self.critic.backward(inputs, grad_q)
        self.critic_opt.step()
        self.updates += 1
        if self.updates % cfg.policy_delay:
            return

        # Actor: loss = -mean(Q1(s, pi(s))); only d/da flows back through the (fixed) critic.
        action, squashed, actor_inputs = self._policy(self.actor, batch.obs)
        q1, q1_inputs = self.critic.forward(torch.cat([batch.obs, action], dim=1).unsqueeze(0), members=Q1)
        grad_in = self.critic.backward(q1_inputs, torch.full_like(q1, -1.0 / n), weight_grads=False,
                                       input_grad=True, members=Q1)
        assert grad_in is not None
        grad_action = grad_in[:, :, self.obs_dim:]
        grad_pre = grad_action * self.act_scale * (1 - squashed * squashed)  # through scale * tanh
        self.actor.backward(actor_inputs, grad_pre)
        self.actor_opt.step()
        self.critic_target.data.lerp_(self.critic.data, cfg.tau)
        self.actor_target.data.lerp_(self.actor.data, cfg.tau)

    def policy_module(self) -> Actor:
        """The current actor as a plain `nn.Module` on the CPU (what a saved policy holds)."""
        hidden = tuple(self.config.hidden_sizes)
        module = Actor(self.obs_dim, self.act_dim, hidden, self.act_low.cpu(), self.act_high.cpu())
        self.actor.copy_to_linears([m for m in module.net if isinstance(m, torch.nn.Linear)])
        return module

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "actor": self.actor.data.cpu().clone(), "actor_target": self.actor_target.data.cpu().clone(),
            "critic": self.critic.data.cpu().clone(), "critic_target": self.critic_target.data.cpu().clone(),
            "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
            "updates": self.updates,
        }

    def mismatch(self, state: dict[str, Any]) -> str | None:
        """Why a saved agent state cannot be loaded into this agent (another layout, other network
        sizes), or None when it can."""
        if state.get("format") != STATE_FORMAT:
            return f"agent state in an unknown layout {state.get('format')!r}"
        for name in _NETWORKS:
            saved = state.get(name)
            if saved is None or tuple(saved.shape) != tuple(getattr(self, name).data.shape):
                return f"{name} weights do not match this network's shape"
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        problem = self.mismatch(state)
        if problem is not None:
            raise ValueError(problem)
        for name in _NETWORKS:
            net: StackedMLP = getattr(self, name)
            net.data.copy_(state[name])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.updates = int(state["updates"])
