"""Lipschitz constants: sorted-neighbour estimate vs brute force on a recorded episode; EMA bias correction."""

from __future__ import annotations

import numpy as np

from lesr_local.envs.make import make_env
from lesr_local.rl.lipschitz import EPSILON, LipschitzEMA, episode_lipschitz


def brute_force(states: np.ndarray, rewards: np.ndarray) -> np.ndarray:
    """For each dim: sort by that dim (stable), then scan every adjacent pair in plain Python."""
    out = []
    for d in range(states.shape[1]):
        order = sorted(range(len(rewards)), key=lambda i: states[i, d])
        best = 0.0
        for a, b in zip(order, order[1:], strict=False):
            best = max(best, abs(rewards[b] - rewards[a]) / (abs(states[b, d] - states[a, d]) + EPSILON))
        out.append(best)
    return np.asarray(out)


def record_episode(env_id: str, steps: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    env = make_env(env_id, seed=seed)
    env.action_space.seed(seed)
    states, rewards = [], []
    for _ in range(steps):
        state, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        states.append(state)
        rewards.append(reward)
        if terminated or truncated:
            break
    env.close()
    return np.asarray(states), np.asarray(rewards)


def test_matches_brute_force_on_a_recorded_halfcheetah_episode() -> None:
    states, rewards = record_episode("HalfCheetah-v5", 300)
    assert states.shape == (300, 17)
    fast = episode_lipschitz(states, rewards)
    np.testing.assert_allclose(fast, brute_force(states, rewards), rtol=1e-12)
    assert np.all(fast > 0)


def test_matches_brute_force_with_ties_and_a_terminal_reward() -> None:
    rng = np.random.default_rng(0)
    states = rng.integers(0, 4, size=(50, 3)).astype(float)  # many equal values per dim
    rewards = rng.normal(size=50)
    np.testing.assert_allclose(episode_lipschitz(states, rewards), brute_force(states, rewards), rtol=1e-12)


def test_hand_computed_value() -> None:
    states = np.array([[0.0], [1.0], [0.5]])
    rewards = np.array([0.0, 2.0, 1.5])
    # sorted by s: (0, 0), (0.5, 1.5), (1, 2): ratios 1.5 / 0.51 and 0.5 / 0.51
    assert episode_lipschitz(states, rewards)[0] == 1.5 / 0.51


def test_short_episode_gives_zeros() -> None:
    assert episode_lipschitz(np.ones((1, 4)), np.ones(1)).tolist() == [0.0] * 4


def test_bias_corrected_ema_of_a_constant_is_the_constant() -> None:
    ema = LipschitzEMA(tau=0.005)
    assert ema.value() is None
    for n in range(1, 6):
        ema.update(np.array([3.0, 0.5]))
        np.testing.assert_allclose(ema.value(), [3.0, 0.5])
        # the raw EMA is still far below the constants after a few episodes
        assert ema.raw is not None
        np.testing.assert_allclose(ema.raw[0], 3.0 * (1 - 0.995**n))


def test_bias_corrected_ema_weights_recent_episodes() -> None:
    ema = LipschitzEMA(tau=0.005)
    ema.update(np.array([1.0]))
    ema.update(np.array([3.0]))
    expected = (0.995 * 0.005 * 1.0 + 0.005 * 3.0) / (1 - 0.995**2)
    np.testing.assert_allclose(ema.value(), [expected])
    restored = LipschitzEMA()
    restored.load_state_dict(ema.state_dict())
    np.testing.assert_allclose(restored.value(), ema.value())
