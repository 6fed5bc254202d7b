"""A reference-style TD3 + LESR training loop, the baseline `lesr bench td3` measures against.

It reproduces, in our own code, how the original TD3 implementation driven by the LESR training
script spends its time: two separate critic MLPs, default (per-parameter) Adam, a float64 numpy
replay buffer of a million rows converted to tensors for every batch, the feature function called
four times per env step, the Lipschitz constants recomputed over the whole (never cleared) state
history after every episode, target networks updated parameter by parameter, and a new evaluation
env built for every evaluation, whose episodes run one after the other. Used only for benchmarking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lesr_local.config import EvalConfig, TD3Config
from lesr_local.envs.make import make_env

FeatureFn = Callable[[np.ndarray], np.ndarray]
RewardFn = Callable[[np.ndarray], float]


class RefActor(nn.Module):
    def __init__(self, state_dim: int, action_dim: int, max_action: float) -> None:
        super().__init__()
        self.l1 = nn.Linear(state_dim, 256)
        self.l2 = nn.Linear(256, 256)
        self.l3 = nn.Linear(256, action_dim)
        self.max_action = max_action

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.l1(state))
        a = F.relu(self.l2(a))
        return self.max_action * torch.tanh(self.l3(a))


class RefCritic(nn.Module):
    def __init__(self, state_dim: int, action_dim: int) -> None:
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(state_dim + action_dim, 256), nn.Linear(256, 256), nn.Linear(256, 1)
        self.l4, self.l5, self.l6 = nn.Linear(state_dim + action_dim, 256), nn.Linear(256, 256), nn.Linear(256, 1)

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sa = torch.cat([state, action], 1)
        q1 = self.l3(F.relu(self.l2(F.relu(self.l1(sa)))))
        q2 = self.l6(F.relu(self.l5(F.relu(self.l4(sa)))))
        return q1, q2

    def q1(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        sa = torch.cat([state, action], 1)
        return self.l3(F.relu(self.l2(F.relu(self.l1(sa)))))


class RefBuffer:
    def __init__(self, state_dim: int, action_dim: int, max_size: int = 1_000_000) -> None:
        self.max_size, self.ptr, self.size = max_size, 0, 0
        self.state = np.zeros((max_size, state_dim))
        self.action = np.zeros((max_size, action_dim))
        self.next_state = np.zeros((max_size, state_dim))
        self.reward = np.zeros((max_size, 1))
        self.not_done = np.zeros((max_size, 1))

    def add(self, state: np.ndarray, action: np.ndarray, next_state: np.ndarray, reward: float,
            done: float) -> None:
        self.state[self.ptr], self.action[self.ptr], self.next_state[self.ptr] = state, action, next_state
        self.reward[self.ptr], self.not_done[self.ptr] = reward, 1.0 - done
        self.ptr = (self.ptr + 1) % self.max_size
        self.size = min(self.size + 1, self.max_size)

    def sample(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        ind = np.random.randint(0, self.size, size=batch_size)
        return tuple(torch.FloatTensor(x[ind]) for x in
                     (self.state, self.action, self.next_state, self.reward, self.not_done))


class RefTD3:
    def __init__(self, state_dim: int, action_dim: int, max_action: float, cfg: TD3Config) -> None:
        self.actor = RefActor(state_dim, action_dim, max_action)
        self.actor_target = RefActor(state_dim, action_dim, max_action)
        self.actor_target.load_state_dict(self.actor.state_dict())
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic = RefCritic(state_dim, action_dim)
        self.critic_target = RefCritic(state_dim, action_dim)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr)
        self.max_action, self.cfg, self.total_it = max_action, cfg, 0

    def select_action(self, state: np.ndarray) -> np.ndarray:
        state_t = torch.FloatTensor(state.reshape(1, -1))
        return self.actor(state_t).cpu().data.numpy().flatten()

    def train(self, buffer: RefBuffer, batch_size: int) -> None:
        cfg = self.cfg
        self.total_it += 1
        state, action, next_state, reward, not_done = buffer.sample(batch_size)
        with torch.no_grad():
            noise = (torch.randn_like(action) * cfg.policy_noise * self.max_action).clamp(
                -cfg.noise_clip * self.max_action, cfg.noise_clip * self.max_action)
            next_action = (self.actor_target(next_state) + noise).clamp(-self.max_action, self.max_action)
            target_q1, target_q2 = self.critic_target(next_state, next_action)
            target_q = reward + not_done * cfg.gamma * torch.min(target_q1, target_q2)
        current_q1, current_q2 = self.critic(state, action)
        critic_loss = F.mse_loss(current_q1, target_q) + F.mse_loss(current_q2, target_q)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        if self.total_it % cfg.policy_delay == 0:
            actor_loss = -self.critic.q1(state, self.actor(state)).mean()
            self.actor_optimizer.zero_grad()
            actor_loss.backward()
            self.actor_optimizer.step()
            for net, target in ((self.critic, self.critic_target), (self.actor, self.actor_target)):
                for param, target_param in zip(net.parameters(), target.parameters(), strict=True):
                    target_param.data.copy_(cfg.tau * param.data + (1 - cfg.tau) * target_param.data)


def cumulative_lipschitz(states: list[np.ndarray], rewards: list[float]) -> np.ndarray:
    """The reference's estimate: all states seen so far, sorted per dim, neighbours in a Python loop."""
    s, r = np.asarray(states), np.asarray(rewards)
    out = np.zeros(s.shape[1])
    for d in range(s.shape[1]):
        order = np.argsort(s[:, d])
        best = 0.0
        for i in range(len(order) - 1):
            a, b = order[i], order[i + 1]
            best = max(best, abs(r[b] - r[a]) / (abs(s[b, d] - s[a, d]) + 0.01))
        out[d] = best
    return out


@dataclass
class ReferenceResult:
    steps: int
    train_steps: int
    train_seconds: float
    train_steps_per_s: float
    updates: int
    curve: list[tuple[int, float]]


def evaluate(policy: RefTD3, env_id: str, seed: int, episodes: int, revise_state: FeatureFn) -> float:
    eval_env = make_env(env_id, seed=seed + 100)
    total = 0.0
    for _ in range(episodes):
        state, _ = eval_env.reset()
        done = False
        while not done:
            action = policy.select_action(np.array(revise_state(state)))
            state, reward, terminated, truncated, _ = eval_env.step(action)
            total += float(reward)
            done = terminated or truncated
    eval_env.close()
    return total / episodes


def run_reference(
    env_id: str, steps: int, seed: int, td3: TD3Config, evaluation: EvalConfig,
    revise_state: FeatureFn, intrinsic_reward: RewardFn, intrinsic_weight: float = 0.02,
) -> ReferenceResult:
    """`steps` env steps in total; the first td3.start_steps are random (the warm-up)."""
    env = make_env(env_id, seed=seed)
    torch.manual_seed(seed)
    np.random.seed(seed)
    state_dim = len(revise_state(env.observation_space.sample()))
    action_dim = int(env.action_space.shape[0])
    max_action = float(env.action_space.high[0])
    policy = RefTD3(state_dim, action_dim, max_action, td3)
    buffer = RefBuffer(state_dim, action_dim)
    state, _ = env.reset(seed=seed)
    history_states: list[np.ndarray] = []
    history_rewards: list[float] = []
    curve: list[tuple[int, float]] = []
    train_start = None
    for t in range(steps):
        if t < td3.start_steps:
            action = env.action_space.sample()
        else:
            if train_start is None:
                train_start = time.perf_counter()
            action = (policy.select_action(np.array(revise_state(state)))
                      + np.random.normal(0, max_action * td3.expl_noise, size=action_dim)
                      ).clip(-max_action, max_action)
        next_state, reward, terminated, truncated, _ = env.step(action)
        done_bool = float(terminated)
        revised_next = revise_state(next_state)
        stored = float(reward) + intrinsic_weight * intrinsic_reward(revise_state(next_state))
        buffer.add(revise_state(state), action, revised_next, stored, done_bool)
        history_states.append(np.asarray(revised_next))
        history_rewards.append(float(reward))
        state = next_state
        if t >= td3.start_steps:
            policy.train(buffer, td3.batch_size)
        if terminated or truncated:
            cumulative_lipschitz(history_states, history_rewards)
            state, _ = env.reset()
        if (t + 1) % evaluation.every == 0:
            curve.append((t + 1, evaluate(policy, env_id, seed, evaluation.episodes, revise_state)))
    train_seconds = time.perf_counter() - train_start if train_start is not None else 0.0
    train_steps = max(0, steps - td3.start_steps)
    env.close()
    return ReferenceResult(steps, train_steps, train_seconds, train_steps / max(train_seconds, 1e-9),
                           policy.total_it, curve)
