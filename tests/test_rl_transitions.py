"""What the real trainer writes into its real replay buffer, transition by transition (fast: the
whole run stays in the random warm-up, so no network is trained).

- the done flag that cuts TD3's bootstrap is set on a true termination only, never on a time-limit
  truncation;
- the stored reward is r + w * G(F(s')), the intrinsic reward of the state the step led to;
- the Lipschitz constants pair each F(s') with the extrinsic r of the same step, episode by episode.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lesr_local.config import EvalConfig, TD3Config
from lesr_local.rl.features import Features
from lesr_local.rl.lipschitz import LipschitzEMA, episode_lipschitz
from lesr_local.rl.trainer import Trainer, TrainSpec

TIME_LIMIT = 12  # short enough that random actions reach it, long enough that many episodes fall first
STEPS = 600
WEIGHT = 10.0  # large, so G's share of the stored reward is far above float32 rounding


def _pole_angle_feature(s: np.ndarray) -> np.ndarray:
    return np.append(s, 3.0 * s[1])  # F: the raw state plus a scaled copy of the pole angle


def _last_dim(updated_s: np.ndarray) -> float:
    return float(updated_s[-1])  # G: the extra dim itself


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trainer:
    folder = tmp_path_factory.mktemp("short-pendulum")
    spec_file = folder / "short_pendulum.toml"
    spec_file.write_text('gym_id = "InvertedPendulum-v5"\nenv_id = "ShortPendulum"\n\n'
                         f'[make_kwargs]\nmax_episode_steps = {TIME_LIMIT}\n')
    spec = TrainSpec(
        env_id="ShortPendulum", env_spec=str(spec_file), steps=STEPS, seed=3, intrinsic_weight=WEIGHT,
        learner=TD3Config(hidden_sizes=(16, 16), start_steps=10 * STEPS, batch_size=32),
        eval=EvalConfig(every=10 * STEPS, episodes=1, last_k=1), threads=1, device="cpu",
    )
    trainer = Trainer(spec, Features(_pole_angle_feature, _last_dim))
    result = trainer.run()
    assert result.status == "finished", result.reason
    assert trainer.buffer.size == STEPS
    return trainer


def _columns(trainer: Trainer) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    batch = trainer.buffer
    rows = batch.data[:batch.size].to(torch.float64).numpy()
    o, a = batch.obs_dim, batch.act_dim
    return rows[:, :o], rows[:, o + a], rows[:, o + a + 1:o + a + 1 + o], rows[:, -1]


def _episodes(obs: np.ndarray, next_obs: np.ndarray) -> list[range]:
    """Row ranges of the episodes: a new one starts where a row's F(s) is not the previous F(s')."""
    starts = [0] + [i for i in range(1, len(obs)) if not np.array_equal(obs[i], next_obs[i - 1])]
    return [range(b, e) for b, e in zip(starts, starts[1:] + [len(obs)], strict=True)]


def test_only_a_true_termination_cuts_the_bootstrap(trained: Trainer) -> None:
    obs, _, next_obs, not_done = _columns(trained)
    # InvertedPendulum-v5 terminates when the pole angle (s[1]) leaves [-0.2, 0.2].
    fell = np.abs(next_obs[:, 1]) > 0.2
    np.testing.assert_array_equal(not_done, np.where(fell, 0.0, 1.0))
    episodes = _episodes(obs, next_obs)[:-1]  # the last one may still be running
    truncated = [ep for ep in episodes if not_done[ep[-1]] == 1.0]
    terminated = [ep for ep in episodes if not_done[ep[-1]] == 0.0]
    assert truncated and terminated, "this seed must show both endings"
    assert all(len(ep) == TIME_LIMIT for ep in truncated)  # cut by the time limit: bootstrap kept
    assert all(not_done[ep[:-1]].all() for ep in episodes)  # no flag inside an episode


def test_the_stored_reward_uses_the_intrinsic_reward_of_the_next_state(trained: Trainer) -> None:
    obs, stored, next_obs, not_done = _columns(trained)
    extrinsic = not_done  # InvertedPendulum-v5 pays 1 per step that keeps the pole up, 0 on the fall
    np.testing.assert_allclose(stored, extrinsic + WEIGHT * next_obs[:, -1], atol=1e-4)  # G(F(s'))
    assert not np.allclose(stored, extrinsic + WEIGHT * obs[:, -1], atol=1e-2)  # not G(F(s))


def test_lipschitz_pairs_each_next_state_with_its_own_reward_per_episode(trained: Trainer) -> None:
    obs, stored, next_obs, _ = _columns(trained)
    extrinsic = stored - WEIGHT * next_obs[:, -1]  # the env's reward, as the trainer received it
    expected = LipschitzEMA()
    shifted = LipschitzEMA()  # the off-by-one pairing: F(s) with the reward of the step from s
    for ep in _episodes(obs, next_obs)[:-1]:
        if len(ep) >= 2:
            expected.update(episode_lipschitz(next_obs[ep], extrinsic[ep]))
            shifted.update(episode_lipschitz(obs[ep], extrinsic[ep]))
    value, wrong = expected.value(), shifted.value()
    assert value is not None and wrong is not None
    np.testing.assert_allclose(trained.lipschitz.value(), value, rtol=1e-4)
    assert not np.allclose(trained.lipschitz.value(), wrong, rtol=1e-2)  # the test can tell them apart
