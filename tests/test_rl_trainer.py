"""The in-worker trainer on real MuJoCo: learning, feature calls, checkpoint/resume exactness, policy file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lesr_local.config import EvalConfig, TD3Config
from lesr_local.envs.make import make_env
from lesr_local.rl.features import Features
from lesr_local.rl.policy_io import load_policy
from lesr_local.rl.trainer import Trainer, TrainSpec, train

ENV = "InvertedPendulum-v5"


def small_spec(tmp_path: Path, steps: int, **kw: object) -> TrainSpec:
    return TrainSpec(
        env_id=ENV, steps=steps, seed=kw.pop("seed", 1),  # type: ignore[arg-type]
        learner=TD3Config(hidden_sizes=(64, 64), start_steps=300, batch_size=64),
        eval=EvalConfig(every=kw.pop("every", 500), episodes=5, last_k=2),  # type: ignore[arg-type]
        threads=1, device="cpu", **kw,  # type: ignore[arg-type]
    )


def random_policy_return(episodes: int = 10) -> float:
    env = make_env(ENV, seed=123)
    total = 0.0
    for _ in range(episodes):
        env.reset()
        done = False
        while not done:
            _, r, terminated, truncated, _ = env.step(env.action_space.sample())
            total += r
            done = terminated or truncated
    env.close()
    return total / episodes


def test_td3_beats_the_random_policy_on_inverted_pendulum(tmp_path: Path) -> None:
    policy_path = tmp_path / "policy.safetensors"
    result = train(small_spec(tmp_path, 3000, policy_path=policy_path), Features())
    assert result.status == "finished", result.reason
    random_return = random_policy_return()
    assert random_return < 15
    final = result.curve[-1][1]
    assert final > max(50.0, 4 * random_return), result.curve
    assert result.score == pytest.approx(np.mean([v for _, v in result.curve[-2:]]))
    assert [s for s, _ in result.curve] == [500, 1000, 1500, 2000, 2500, 3000]
    assert result.lipschitz is not None and len(result.lipschitz) == 4
    # the saved policy is the trained actor and runs on raw states
    loaded = load_policy(policy_path)
    assert loaded.meta.env_id == ENV and loaded.meta.feature_dim == 4 and loaded.meta.act_dim == 1
    env = make_env(ENV, seed=7)
    state, _ = env.reset()
    action = loaded.act(state)
    assert action.shape == (1,) and -3.0 <= action[0] <= 3.0


def test_features_are_computed_once_per_env_step(tmp_path: Path) -> None:
    seen: list[int] = []

    def revise(s: np.ndarray) -> np.ndarray:
        seen.append(1)
        return np.concatenate([s, [s[1] * s[3]]])

    features = Features(revise, lambda fs: -abs(fs[4]))
    spec = small_spec(tmp_path, 800, intrinsic_weight=0.1)
    trainer = Trainer(spec, features)
    result = trainer.run()
    trainer.close()
    assert result.status == "finished" and result.feature_dim == 5
    training_calls = features.calls - trainer.evaluator.feature_calls
    # one call per env step, one per episode reset (+ the very first state)
    assert training_calls == spec.steps + trainer.episodes + 1
    assert len(seen) == features.calls
    # stored rewards carry the intrinsic term: r + 0.1 * G(F(s')) with G <= 0, and r in {0, 1}
    rewards = trainer.buffer.data[: trainer.buffer.size, 5 + 1].numpy()
    assert np.all(rewards <= 1.0) and np.any((rewards < 1.0) & (rewards > 0.0))


def test_time_limit_truncation_does_not_cut_the_bootstrap(tmp_path: Path) -> None:
    spec = TrainSpec(env_id="Swimmer-v5", steps=1200, seed=0, learner=TD3Config(hidden_sizes=(32,), start_steps=1200),
                     eval=EvalConfig(every=5000, episodes=1), threads=1, device="cpu")
    trainer = Trainer(spec, Features())
    trainer.run()
    trainer.close()
    not_done = trainer.buffer.data[: trainer.buffer.size, -1]
    assert trainer.episodes == 1  # Swimmer never terminates: one 1000-step episode ended by the time limit
    assert torch.all(not_done == 1.0)


def test_candidate_exception_fails_the_training_with_its_step(tmp_path: Path) -> None:
    def revise(s: np.ndarray) -> np.ndarray:
        if abs(s[1]) > 0.05:
            raise ValueError("pole too far")
        return np.concatenate([s, [0.0]])

    result = train(small_spec(tmp_path, 2000), Features(revise, lambda fs: 0.0))
    assert result.status == "failed"
    assert result.reason is not None
    assert result.reason.startswith("revise_state raised ValueError at step ")
    assert result.reason.endswith(": pole too far")


def test_checkpoint_resume_continues_the_same_rng_stream(tmp_path: Path) -> None:
    # HalfCheetah episodes end on the time limit at 1000, 2000: a checkpoint coincides with an evaluation.
    def spec(**kw: object) -> TrainSpec:
        return TrainSpec(env_id="HalfCheetah-v5", steps=2300, seed=4,
                         learner=TD3Config(hidden_sizes=(32, 32), start_steps=400, batch_size=32),
                         eval=EvalConfig(every=1000, episodes=1, last_k=2), threads=1, device="cpu",
                         **kw)  # type: ignore[arg-type]

    straight = Trainer(spec(), Features())
    expected = straight.run()
    straight.close()

    ckpt = tmp_path / "ckpt"
    first = Trainer(spec(checkpoint_dir=ckpt, checkpoint_every=1000), Features())
    stopped = first.run(should_stop=lambda: (ckpt / "checkpoint.safetensors").exists())
    first.close()
    assert stopped.status == "cancelled" and stopped.steps == 1000

    resumed = Trainer(spec(checkpoint_dir=ckpt, checkpoint_every=1000), Features())
    assert resumed.step == resumed.resumed_from == 1000
    result = resumed.run()
    resumed.close()
    assert result.status == "finished" and result.steps == 2300 and result.resumed_from == 1000
    assert [s for s, _ in result.curve] == [1000, 2000, 2300]
    assert result.curve == expected.curve
    assert result.lipschitz == expected.lipschitz
    for name in ("actor", "critic_target"):
        assert torch.equal(straight.agent.state_dict()[name], resumed.agent.state_dict()[name]), name


def test_only_a_checkpoint_of_this_very_training_is_continued(tmp_path: Path) -> None:
    from lesr_local.rl.checkpoint import LocalFiles
    from lesr_local.sandbox.tensorfile import pack

    ckpt = tmp_path / "ckpt"
    first = Trainer(small_spec(tmp_path, 800, checkpoint_dir=ckpt, checkpoint_every=100), Features())
    first.run(should_stop=lambda: (ckpt / "checkpoint.safetensors").exists())
    first.close()
    state = LocalFiles(ckpt, None).load_checkpoint()
    assert state is not None and state["step"] > 0
    again = Trainer(small_spec(tmp_path, 800, checkpoint_dir=ckpt, checkpoint_every=100), Features())
    assert again.step == state["step"]  # the current layout resumes
    again.close()
    other_seed = Trainer(small_spec(tmp_path, 800, checkpoint_dir=ckpt, checkpoint_every=100, seed=9), Features())
    assert other_seed.step == other_seed.resumed_from == 0  # another seed's checkpoint: start afresh
    other_seed.close()
    LocalFiles(ckpt, None).save("checkpoint", pack({**state, "version": 2}))  # an older layout
    fresh = Trainer(small_spec(tmp_path, 800, checkpoint_dir=ckpt, checkpoint_every=100), Features())
    assert fresh.step == fresh.resumed_from == 0
    fresh.close()


def test_pause_at_step_then_continue_trains_no_step_twice(tmp_path: Path) -> None:
    """Successive halving's rungs: stop at exactly the rung step, continue from its checkpoint later."""
    ckpt = tmp_path / "ckpt"
    progress: list[int] = []

    def spec(pause: int | None) -> TrainSpec:
        return small_spec(tmp_path, 1500, every=500, checkpoint_dir=ckpt, pause_at_step=pause)

    first = Trainer(spec(700), Features(), on_progress=lambda p: progress.append(p.step))
    paused = first.run()
    first.close()
    # 700 is mid-episode and not an evaluation step: it stops there, evaluates there, checkpoints
    assert paused.status == "paused" and paused.steps == 700 and paused.score is None
    assert [s for s, _ in paused.curve] == [500, 700]
    assert (ckpt / "checkpoint.safetensors").exists() and max(progress) == 700

    again = Trainer(spec(700), Features())  # the same rung again (e.g. after a crash): nothing to train
    assert again.run().status == "paused" and again.step == 700
    again.close()

    rest = Trainer(spec(None), Features(), on_progress=lambda p: progress.append(p.step))
    assert rest.resumed_from == 700
    result = rest.run()
    rest.close()
    assert result.status == "finished" and result.steps == 1500 and result.resumed_from == 700
    assert [s for s, _ in result.curve] == [500, 700, 1000, 1500]
    # every env step trained exactly once: 700 in the first session, 800 in the second
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    assert rest.buffer.size == 1500


def test_source_check_samples_calls_a_candidate_cannot_predict() -> None:
    """Code that counts its calls and alters s only where a fixed schedule never looks is caught
    within a bounded number of calls, in every one of many fresh trainings."""
    from lesr_local.rl.features import SOURCE_CHECK_FIRST, CandidateError, RuntimeChecks

    caught_at = []
    for _ in range(20):
        calls = [0]

        def revise(s: np.ndarray, calls: list[int] = calls) -> np.ndarray:
            calls[0] += 1
            head = s + 1.0 if calls[0] > SOURCE_CHECK_FIRST and calls[0] % 50 else s
            return np.concatenate([head, [1.0]])

        features = Features(revise, lambda fs: 0.0, checks=RuntimeChecks())
        with pytest.raises(CandidateError, match="changed source dim 0"):
            for step in range(SOURCE_CHECK_FIRST + 2000):
                features.transform(np.zeros(3), f"at step {step}")
        caught_at.append(features.calls)
    assert max(caught_at) < SOURCE_CHECK_FIRST + 2000  # (49/50)^2000: never missed in practice
    assert len(set(caught_at)) > 1  # a different schedule in every training
