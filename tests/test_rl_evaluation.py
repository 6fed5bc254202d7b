"""Evaluation: lockstep-batched persistent envs give exactly the returns of plain one-by-one episodes."""

from __future__ import annotations

import numpy as np
import pytest

from lesr_local.envs.make import make_env
from lesr_local.rl.evaluation import MAX_PARALLEL_ENVS, Evaluator
from lesr_local.rl.features import Features

W = np.random.default_rng(0).normal(size=(11, 3)) * 0.3


def linear_policy(states: np.ndarray) -> np.ndarray:
    return np.clip(np.tanh(states @ W), -1, 1)


def sequential_mean_return(evaluator: Evaluator, evaluation: int, episodes: int) -> float:
    env = make_env("Hopper-v5")
    total = 0.0
    for e in range(episodes):
        state, _ = env.reset(seed=evaluator.episode_seed(evaluation, e))
        done = False
        while not done:
            state, reward, terminated, truncated, _ = env.step(linear_policy(state[None])[0])
            total += reward
            done = terminated or truncated
    env.close()
    return total / episodes


def test_batched_evaluation_matches_sequential_episodes() -> None:
    episodes = MAX_PARALLEL_ENVS + 3  # two waves
    evaluator = Evaluator("Hopper-v5", episodes, seed=5, features=Features())
    assert len(evaluator.envs) == MAX_PARALLEL_ENVS
    envs_before = list(evaluator.envs)
    first = evaluator.run(linear_policy)
    second = evaluator.run(linear_policy)
    assert evaluator.envs == envs_before  # persistent: no env is rebuilt per evaluation
    assert first == pytest.approx(sequential_mean_return(evaluator, 0, episodes), rel=1e-12)
    assert second == pytest.approx(sequential_mean_return(evaluator, 1, episodes), rel=1e-12)
    assert first != second  # fresh seeds each evaluation
    evaluator.close()


def test_success_rate_metric_counts_successful_episodes() -> None:
    evaluator = Evaluator("InvertedPendulum-v5", 4, seed=0, features=Features(), metric="success_rate")
    # InvertedPendulum reports no success flag: every episode counts as a failure
    assert evaluator.run(lambda s: np.zeros((len(s), 1))) == 0.0
    evaluator.close()
