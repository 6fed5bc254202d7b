"""How the intrinsic reward enters the stored reward, on the real trainer with a known F and G.

Every training here stays in TD3's random warm-up (start_steps >= steps), so its actions are the
trainer's own RNG stream: the test regenerates them, replays the real env in float64, and checks each
stored transition against the formula of its variant (additive, potential, features_only,
reward_only), including what happens at a true termination and at a time-limit truncation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lesr_local.config import EvalConfig, TD3Config
from lesr_local.envs.make import make_env
from lesr_local.rl.features import Features
from lesr_local.rl.trainer import Trainer, TrainSpec

W = 0.5  # large, so the shaping term is well above float32 rounding of the stored reward
GAMMA = 0.9


def revise(s: np.ndarray) -> np.ndarray:
    return np.concatenate([s, [np.tanh(s[0]) + 2.0 * s[1] + 1.0, s[2] * s[1]]])


def potential(fs: np.ndarray) -> float:
    return float(3.0 * fs[-2] - fs[-1])


@dataclass
class Step:
    state: np.ndarray  # s (raw)
    reward: float  # extrinsic r
    next_state: np.ndarray  # s'
    terminated: bool
    truncated: bool


def replay(env_id: str, seed: int, steps: int) -> list[Step]:
    """The trainer's warm-up trajectory: same env seed, same action RNG, resets at episode ends."""
    env = make_env(env_id, seed=seed)
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    state, _ = env.reset()
    out: list[Step] = []
    for _ in range(steps):
        nxt, r, term, trunc, _ = env.step(rng.uniform(low, high))
        out.append(Step(state, float(r), nxt, bool(term), bool(trunc)))
        state = env.reset()[0] if term or trunc else nxt
    env.close()
    return out


def run(env_id: str, steps: int, tmp_path: Path | None = None, **kw: object) -> Trainer:
    spec = TrainSpec(env_id=env_id, steps=steps, seed=3, learner=TD3Config(hidden_sizes=(16,), start_steps=steps,
                     gamma=GAMMA), eval=EvalConfig(every=10 * steps, episodes=1), threads=1, device="cpu",
                     **kw)  # type: ignore[arg-type]
    trainer = Trainer(spec, Features(revise, potential))
    result = trainer.run()
    trainer.close()
    assert result.status == "finished", result.reason
    return trainer


def columns(trainer: Trainer) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    buf = trainer.buffer
    data = buf.data[: buf.size].double().numpy()
    o, a = buf.obs_dim, buf.act_dim
    return data[:, :o], data[:, o + a], data[:, o + a + 1: o + a + 1 + o], data[:, -1]


def expected_reward(variant: str, step: Step) -> float:
    g_next = potential(revise(step.next_state))
    if variant == "features_only":
        return step.reward
    if variant == "potential":
        phi_next = 0.0 if step.terminated else g_next
        return step.reward + W * (GAMMA * phi_next - potential(revise(step.state)))
    return step.reward + W * g_next  # additive and reward_only


VARIANTS = {
    "additive": {"intrinsic_weight": W, "shaping": "additive"},
    "potential": {"intrinsic_weight": W, "shaping": "potential"},
    "features_only": {"intrinsic_weight": 0.0},
    "reward_only": {"intrinsic_weight": W, "observation": "raw"},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_stored_reward_matches_the_variant_formula_across_terminations(variant: str) -> None:
    steps = 400
    trainer = run("Hopper-v5", steps, **VARIANTS[variant])
    trajectory = replay("Hopper-v5", 3, steps)
    assert sum(s.terminated for s in trajectory) >= 3  # random Hopper falls: terminations are covered
    obs, stored, next_obs, not_done = columns(trainer)
    raw = variant == "reward_only"
    for i, step in enumerate(trajectory):
        want_obs = step.state if raw else revise(step.state)
        np.testing.assert_allclose(obs[i], want_obs, rtol=1e-5, atol=1e-5, err_msg=f"obs {i}")
        np.testing.assert_allclose(next_obs[i], step.next_state if raw else revise(step.next_state),
                                   rtol=1e-5, atol=1e-5)
        assert not_done[i] == (0.0 if step.terminated else 1.0)
        assert stored[i] == pytest.approx(expected_reward(variant, step), rel=1e-5, abs=1e-5), (variant, i)
    assert trainer.feature_dim == (11 if raw else 13)


def test_potential_keeps_the_next_potential_at_a_time_limit_truncation() -> None:
    # Swimmer never terminates: its only episode end is the 1000-step time limit.
    steps = 1010
    trainer = run("Swimmer-v5", steps, intrinsic_weight=W, shaping="potential")
    trajectory = replay("Swimmer-v5", 3, steps)
    _, stored, _, not_done = columns(trainer)
    cut = 999
    assert trajectory[cut].truncated and not trajectory[cut].terminated
    assert not_done[cut] == 1.0
    step = trajectory[cut]
    kept = step.reward + W * (GAMMA * potential(revise(step.next_state)) - potential(revise(step.state)))
    zeroed = step.reward + W * (0.0 - potential(revise(step.state)))
    assert stored[cut] == pytest.approx(kept, rel=1e-5, abs=1e-5)
    assert abs(kept - zeroed) > 1e-2  # the two rules are told apart here
    # the next episode starts from Phi(reset state), not from the truncated state's potential
    first = trajectory[cut + 1]
    assert stored[cut + 1] == pytest.approx(expected_reward("potential", first), rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("env_id, steps", [("Hopper-v5", 400), ("Swimmer-v5", 1000)])
def test_potential_shaping_telescopes_over_each_episode(env_id: str, steps: int) -> None:
    """sum_t gamma^t * (gamma * Phi(s_t+1) - Phi(s_t)) = gamma^T * Phi(s_T) - Phi(s_0), Phi(s_T) = 0
    when the episode truly terminated."""
    potential_run = run(env_id, steps, intrinsic_weight=W, shaping="potential")
    plain = run(env_id, steps, intrinsic_weight=0.0)  # same trajectory, stored reward = r
    _, shaped, _, _ = columns(potential_run)
    _, extrinsic, _, _ = columns(plain)
    trajectory = replay(env_id, 3, steps)
    terms = (shaped - extrinsic) / W
    episodes = 0
    start = 0
    for t, step in enumerate(trajectory):
        if not (step.terminated or step.truncated):
            continue
        length = t + 1 - start
        discounted = float(np.sum(GAMMA ** np.arange(length) * terms[start: t + 1]))
        phi_end = 0.0 if step.terminated else potential(revise(step.next_state))
        phi_start = potential(revise(trajectory[start].state))
        assert discounted == pytest.approx(GAMMA ** length * phi_end - phi_start, abs=1e-3), (env_id, start)
        episodes += 1
        start = t + 1
    assert episodes >= 1


def test_potential_shaping_resumes_with_the_same_stored_rewards(tmp_path: Path) -> None:
    steps = 400
    straight = run("Hopper-v5", steps, intrinsic_weight=W, shaping="potential")
    ckpt = tmp_path / "ckpt"
    spec = TrainSpec(env_id="Hopper-v5", steps=steps, seed=3, learner=TD3Config(hidden_sizes=(16,), start_steps=steps,
                     gamma=GAMMA), eval=EvalConfig(every=10 * steps, episodes=1), threads=1, device="cpu",
                     intrinsic_weight=W, shaping="potential", checkpoint_dir=ckpt, checkpoint_every=100)
    first = Trainer(spec, Features(revise, potential))
    stopped = first.run(should_stop=lambda: (ckpt / "checkpoint.safetensors").exists())
    first.close()
    assert stopped.status == "cancelled" and 0 < stopped.steps < steps
    resumed = Trainer(spec, Features(revise, potential))
    assert resumed.resumed_from == stopped.steps
    resumed.run()
    resumed.close()
    np.testing.assert_array_equal(columns(resumed)[1], columns(straight)[1])


def test_unknown_shaping_is_refused() -> None:
    with pytest.raises(ValueError, match="shaping"):
        Trainer(TrainSpec(env_id="Hopper-v5", steps=10, shaping="multiplicative", device="cpu"), Features())


def test_shaping_setting_in_presets_toml_and_old_runs(tmp_path: Path) -> None:
    from lesr_local.config import RunConfig, load_toml, preset, with_overrides
    from lesr_local.errors import BadInput

    assert preset("paper").shaping == "additive" and preset("smoke").shaping == "additive"
    assert preset("quick").shaping == "potential"
    toml = tmp_path / "run.toml"
    toml.write_text('preset = "paper"\nshaping = "potential"\n')
    assert load_toml(toml).shaping == "potential"
    toml.write_text('shaping = "multiplicative"\n')
    with pytest.raises(BadInput, match="shaping must be additive or potential"):
        load_toml(toml)
    with pytest.raises(BadInput, match="shaping"):
        with_overrides(preset("smoke"), shaping="both")
    old = preset("smoke").to_dict()
    del old["shaping"]  # a run saved before the setting existed trained additively
    assert RunConfig.from_dict(old).shaping == "additive"


def test_feedback_prompt_names_the_shaping_in_force() -> None:
    from lesr_local.candidates.prompts import CandidateFeedback, feedback_prompt
    from lesr_local.envs.catalogue import get_env_info

    env = get_env_info("Hopper-v5")
    results = [CandidateFeedback("i0-k0", 0, "def revise_state(s):\n    return s\n", 1.0, [0.1] * 11, "finished")]
    potential_text = feedback_prompt(env, results, 2.0, "potential", 0.02, 0.99)
    additive_text = feedback_prompt(env, results, 2.0, "additive", 0.02)
    assert "r + 0.02 * (0.99 * intrinsic_reward(next updated_s) - intrinsic_reward(updated_s))" in potential_text
    assert "potential-based shaping" in potential_text and "potential" not in additive_text
    assert "r + 0.02 * intrinsic_reward(next updated_s) (added at every step)" in additive_text
