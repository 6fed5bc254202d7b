"""TD3 (Fujimoto et al., 2018): clipped double-Q, delayed policy updates, target policy smoothing.

Speed without changing the algorithm: both critics are one batched network, the optimisers are
fused Adam, target networks move with one `_foreach_lerp_` per network, the actor loss does not
accumulate gradients into the critic, and nothing in `update` syncs with the host.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from lesr_local.config import TD3Config
from lesr_local.rl.buffer import Batch
from lesr_local.rl.networks import Actor, TwinCritic


def _adam(params: Any, lr: float) -> torch.optim.Adam:
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # fused kernels missing for this device
        return torch.optim.Adam(params, lr=lr, foreach=True)


class TD3:
    def __init__(
        self, obs_dim: int, act_dim: int, act_low: np.ndarray, act_high: np.ndarray, config: TD3Config,
        device: torch.device,
    ) -> None:
        self.config = config
        self.device = device
        low = torch.as_tensor(act_low, dtype=torch.float32, device=device)
        high = torch.as_tensor(act_high, dtype=torch.float32, device=device)
        self.act_low, self.act_high = low, high
        self.act_scale = (high - low) / 2
        hidden = tuple(config.hidden_sizes)
        self.actor = Actor(obs_dim, act_dim, hidden, low, high).to(device)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic = TwinCritic(obs_dim, act_dim, hidden).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = _adam(self.actor.parameters(), config.actor_lr)
        self.critic_opt = _adam(self.critic.parameters(), config.critic_lr)
        self._actor_params = list(self.actor.parameters())
        self._actor_target_params = list(self.actor_target.parameters())
        self._critic_params = list(self.critic.parameters())
        self._critic_target_params = list(self.critic_target.parameters())
        self.updates = 0

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic action(s) for one observation (dim,) or a batch (n, dim)."""
        x = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        return self.actor(x).cpu().numpy()

    def update(self, batch: Batch) -> None:
        cfg = self.config
        with torch.no_grad():
            noise = (torch.randn_like(batch.act) * cfg.policy_noise).clamp_(-cfg.noise_clip, cfg.noise_clip)
            next_act = self.actor_target(batch.next_obs).add_(noise * self.act_scale)
            next_act = torch.max(torch.min(next_act, self.act_high), self.act_low)
            next_q = self.critic_target(batch.next_obs, next_act).amin(dim=0)
            target = batch.reward + cfg.gamma * batch.not_done * next_q

        q = self.critic(batch.obs, batch.act)
        # Sum of the two critics' MSE losses, as in the original implementation.
        critic_loss = (q - target).square().mean(dim=1).sum()
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        self.updates += 1

        if self.updates % cfg.policy_delay == 0:
            self.critic.requires_grad_(False)  # the actor loss needs d/da only, not critic weight grads
            actor_loss = -self.critic.q1(batch.obs, self.actor(batch.obs)).mean()
            self.actor_opt.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.actor_opt.step()
            self.critic.requires_grad_(True)
            with torch.no_grad():
                torch._foreach_lerp_(self._critic_target_params, self._critic_params, cfg.tau)
                torch._foreach_lerp_(self._actor_target_params, self._actor_params, cfg.tau)

    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(), "actor_target": self.actor_target.state_dict(),
            "critic": self.critic.state_dict(), "critic_target": self.critic_target.state_dict(),
            "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.actor_target.load_state_dict(state["actor_target"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.updates = int(state["updates"])
