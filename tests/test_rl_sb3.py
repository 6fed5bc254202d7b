"""stable-baselines3 SAC and PPO in the sandboxed training worker, with a candidate's F and G."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from lesr_local.config import EvalConfig, TD3Config
from lesr_local.rl.algos import ppo_rollout_steps
from lesr_local.rl.checkpoint import read_bytes
from lesr_local.rl.client import run_training
from lesr_local.rl.evaluation import Evaluator
from lesr_local.rl.features import Features
from lesr_local.rl.spec import TrainProgress, TrainSpec
from lesr_local.sandbox.tensorfile import unpack

ENV = "InvertedPendulum-v5"
STATE_DIM = 4
GOOD = '''import numpy as np

def revise_state(s):
    return np.concatenate([s, [s[1] * s[3], abs(s[1])]])

def intrinsic_reward(updated_s):
    return -updated_s[5]
'''
EVAL = EvalConfig(every=400, episodes=3, last_k=2)


def random_policy_score(seed: int) -> float:
    """The same evaluation protocol (episodes, seeds) with uniformly random actions."""
    rng = np.random.default_rng(0)
    evaluator = Evaluator(ENV, EVAL.episodes, seed, Features())
    try:
        scores = [evaluator.run(lambda x: rng.uniform(-3.0, 3.0, size=(len(x), 1))) for _ in range(3)]
    finally:
        evaluator.close()
    return float(np.mean(scores))


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["sac", "ppo"])
def test_sb3_learns_on_the_candidate_features_and_resumes_at_the_same_step(tmp_path: Path, algo: str) -> None:
    steps = 1600 if algo == "sac" else 2400
    ckpt = tmp_path / "ckpt"
    policy = tmp_path / "policy.safetensors"
    spec = TrainSpec(env_id=ENV, steps=steps, seed=3, candidate_source=GOOD, algo=algo, threads=1,
                     learner=TD3Config(hidden_sizes=(64, 64), start_steps=300, batch_size=64), eval=EVAL,
                     checkpoint_dir=ckpt, checkpoint_every=600, policy_path=policy)
    cancel = threading.Event()

    def stop_after_a_checkpoint(progress: TrainProgress) -> None:
        if (ckpt / "checkpoint.safetensors").exists():
            cancel.set()

    first = run_training(spec, stop_after_a_checkpoint, cancel)
    assert first.status == "cancelled", first.reason
    assert first.steps < steps
    second = run_training(spec)
    assert second.status == "finished", second.reason
    assert second.steps == steps and 600 <= second.resumed_from < steps
    assert [s for s, _ in second.curve] == list(range(400, steps + 1, 400))
    assert second.score is not None and second.score > random_policy_score(spec.seed) + 5
    # The observation the policy saw: D source dims + the candidate's 2 extra dims.
    assert second.feature_dim == STATE_DIM + 2 and second.lipschitz is not None and len(second.lipschitz) == 6
    saved = unpack(read_bytes(policy))
    assert saved["meta"]["algo"] == algo and saved["meta"]["feature_dim"] == 6
    first_layer = "actor.latent_pi.0.weight" if algo == "sac" else "mlp_extractor.policy_net.0.weight"
    assert saved["policy"][first_layer].shape == (64, 6)


def test_ppo_rollouts_shrink_for_short_trainings_and_stay_minibatch_multiples() -> None:
    assert ppo_rollout_steps(1_000_000) == 2048
    for steps in (100, 1200, 2400, 10_000):
        n = ppo_rollout_steps(steps)
        assert n % 64 == 0 and 64 <= n <= 2048 and (n <= steps // 8 or n == 64)


def test_sac_on_a_candidate_that_crashes_fails_with_its_reason(tmp_path: Path) -> None:
    crashing = GOOD.replace("return -updated_s[5]", "return 1.0 / (updated_s[5] - updated_s[5])")
    spec = TrainSpec(env_id=ENV, steps=400, seed=0, candidate_source=crashing, algo="sac", threads=1,
                     learner=TD3Config(hidden_sizes=(16, 16), start_steps=100, batch_size=16), eval=EVAL)
    result = run_training(spec)
    assert result.status == "failed"
    assert result.reason is not None and "intrinsic_reward" in result.reason, result.reason


def test_train_cli_refuses_an_unknown_algo_and_sac_on_discrete_actions(lesr, home: Path) -> None:
    out = lesr("train", "--env", ENV, "--steps", "100", "--algo", "a2c", home=home)
    assert out.returncode == 2 and "unknown algo 'a2c'; choose one of: td3, sac, ppo" in out.stderr
    out = lesr("train", "--env", "CartPole-v1", "--steps", "100", "--algo", "sac", home=home)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == "lesr: error: SAC needs a continuous (Box) action space; CartPole-v1 has a Discrete one"
