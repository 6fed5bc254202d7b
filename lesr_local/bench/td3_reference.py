"""A reference-style TD3 + LESR training loop, the baseline `lesr bench td3` measures against.

It reproduces, in our own code, how the original TD3 implementation driven by the LESR training
script spends its time: the agent is the readable autograd TD3 (`rl.td3_autograd`: two separate
critic MLPs, default per-parameter Adam, targets updated parameter by parameter), fed from a float64
numpy replay buffer of a million rows converted to tensors for every batch, the feature function called
four times per env step, the Lipschitz constants recomputed over the whole (never cleared) state
history after every episode, and a new evaluation env built for every evaluation, whose episodes run one after the other. Used only for benchmarking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lesr_local.config import EvalConfig, TD3Config
from lesr_local.envs.make import make_env
from lesr_local.rl.buffer import Batch
from lesr_local.rl.td3_autograd import AutogradTD3

FeatureFn = Callable[[np.ndarray], np.ndarray]
RewardFn = Callable[[np.ndarray], float]


class RefBuffer:
    """The reference's replay buffer: float64 numpy, a million rows, tensors built per batch."""

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

    def sample(self, batch_size: int) -> Batch:
        ind = np.random.randint(0, self.size, size=batch_size)
        state, action, next_state, reward, not_done = (
            torch.FloatTensor(x[ind]) for x in (self.state, self.action, self.next_state, self.reward, self.not_done))
        return Batch(obs=state, act=action, reward=reward.squeeze(1), next_obs=next_state,
                     not_done=not_done.squeeze(1))


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


def evaluate(policy: AutogradTD3, env_id: str, seed: int, episodes: int, revise_state: FeatureFn) -> float:
    eval_env = make_env(env_id, seed=seed + 100)
    total = 0.0
    for _ in range(episodes):
        state, _ = eval_env.reset()
        done = False
        while not done:
            action = policy.act(np.array(revise_state(state)))
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
    policy = AutogradTD3(state_dim, action_dim, env.action_space.low, env.action_space.high, td3)
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
            action = (policy.act(np.array(revise_state(state)))
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
            policy.update(buffer.sample(td3.batch_size))
        if terminated or truncated:
            cumulative_lipschitz(history_states, history_rewards)
            state, _ = env.reset()
        if (t + 1) % evaluation.every == 0:
            curve.append((t + 1, evaluate(policy, env_id, seed, evaluation.episodes, revise_state)))
    train_seconds = time.perf_counter() - train_start if train_start is not None else 0.0
    train_steps = max(0, steps - td3.start_steps)
    env.close()
    return ReferenceResult(steps, train_steps, train_seconds, train_steps / max(train_seconds, 1e-9),
                           policy.updates, curve)
