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


def _reach(states: np.ndarray) -> np.ndarray:
    """Scripted FetchReach controller: move the gripper (s[0:3]) towards the desired goal (s[13:16])."""
    move = np.clip(10.0 * (states[:, 13:16] - states[:, 0:3]), -1.0, 1.0)
    return np.concatenate([move, np.zeros((len(states), 1))], axis=1)


def test_success_rate_on_a_real_goal_env() -> None:
    # FetchReach is not catalogued: its metric comes from the automatic description (the env
    # reports info["is_success"]); flattened as observation(10) + achieved_goal(3) + desired_goal(3).
    from lesr_local.rl.trainer import env_metric

    assert env_metric("FetchReachDense-v4", None) == "success_rate"
    evaluator = Evaluator("FetchReachDense-v4", 4, seed=0, features=Features(), metric="success_rate")
    assert evaluator.run(_reach) == 1.0
    assert evaluator.run(lambda s: np.zeros((len(s), 4))) == 0.0  # standing still never reaches the goal
    evaluator.close()


def test_training_on_a_goal_env_reports_success_rates(tmp_path) -> None:
    from lesr_local.config import EvalConfig, TD3Config
    from lesr_local.rl.trainer import Trainer, TrainSpec

    spec = TrainSpec(env_id="FetchReachDense-v4", steps=300, seed=0,
                     learner=TD3Config(hidden_sizes=(32, 32), start_steps=100, batch_size=32),
                     eval=EvalConfig(every=150, episodes=1, last_k=2, goal_episodes=4), threads=1, device="cpu")
    trainer = Trainer(spec, Features())
    assert trainer.metric == "success_rate" and trainer.evaluator.episodes == 4  # goal_episodes, not episodes
    result = trainer.run()
    trainer.close()
    assert result.status == "finished" and [s for s, _ in result.curve] == [150, 300]
    assert all(v in (0.0, 0.25, 0.5, 0.75, 1.0) for _, v in result.curve)
