"""`lesr export --format wrapper`: the written module works on its own, in a fresh interpreter."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest

from lesr_local.config import preset, with_overrides
from lesr_local.experiments.statistics import Comparison, SeedResult, compare
from lesr_local.rl.feature_env import FeatureRewardWrapper
from lesr_local.rl.features import Features
from lesr_local.store import Store, new_run_id
from tests.helpers_runs import record_training
from tests.test_transfer import CODE, _run

# Runs in a fresh interpreter: the module under test, SB3 and gymnasium only (no lesr_local).
CHECK = r'''
import importlib.util, json, sys
import gymnasium
import numpy as np

path, code, weight = sys.argv[1], sys.argv[2], float(sys.argv[3])
spec = importlib.util.spec_from_file_location("exported_wrapper", path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
stored = {}
exec(code, stored)  # the candidate as the store holds it, for an independent reference

env = mod.LesrWrapper(gymnasium.make("InvertedPendulum-v5"))
plain = gymnasium.make("InvertedPendulum-v5")
obs, _ = env.reset(seed=7)
ref, _ = plain.reset(seed=7)
out = {"obs_shape": list(obs.shape), "space_shape": list(env.observation_space.shape), "max_reward_error": 0.0,
       "first_dims_equal": bool(np.allclose(obs[:4], ref)), "weight": env.intrinsic_weight}
rng = np.random.default_rng(0)
for _ in range(20):
    action = rng.uniform(-3, 3, size=1)
    obs, reward, term, trunc, info = env.step(action)
    ref, r, term2, trunc2, _ = plain.step(action)
    feats = np.asarray(stored["revise_state"](np.asarray(ref, dtype=np.float64)), dtype=np.float64)
    expected = float(r) + weight * float(stored["intrinsic_reward"](feats))
    out["max_reward_error"] = max(out["max_reward_error"], abs(reward - expected))
    if term or trunc:
        break

# CleanRL-style loop over a gymnasium vector env
envs = gymnasium.vector.SyncVectorEnv([lambda: mod.LesrWrapper(gymnasium.make("InvertedPendulum-v5"))] * 2)
batch, _ = envs.reset(seed=1)
for _ in range(10):
    batch, rewards, _, _, _ = envs.step(envs.action_space.sample())
out["vector_obs_shape"] = list(batch.shape)

from stable_baselines3 import PPO
model = PPO("MlpPolicy", mod.LesrWrapper(gymnasium.make("InvertedPendulum-v5"), intrinsic_weight=0.5),
            n_steps=128, batch_size=64, n_epochs=2, seed=0, device="cpu")
model.learn(256)
out["sb3_timesteps"] = int(model.num_timesteps)
out["sb3_action_shape"] = list(model.predict(obs, deterministic=True)[0].shape)
print(json.dumps(out))
'''


def test_wrapper_module_works_in_a_fresh_interpreter_with_sb3(home: Path, lesr, tmp_path: Path) -> None:
    run_id = _run(home)
    out_file = tmp_path / "pendulum_lesr.py"
    out = lesr("export", run_id, "--format", "wrapper", "--out", str(out_file), home=home)
    assert out.returncode == 0, out.stderr
    text = out_file.read_text()
    assert "outside any sandbox" in text and run_id in text and "InvertedPendulum-v5" in text
    proc = subprocess.run([sys.executable, "-c", CHECK, str(out_file), CODE, "0.02"], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "MUJOCO_GL": "egl"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["obs_shape"] == [5] and result["space_shape"] == [5] and result["first_dims_equal"]
    assert result["weight"] == 0.02  # the run's w by default
    assert result["max_reward_error"] < 1e-9
    assert result["vector_obs_shape"] == [2, 5]
    assert result["sb3_timesteps"] == 256 and result["sb3_action_shape"] == [1]


def test_module_format_carries_the_unsandboxed_warning(home: Path, lesr, tmp_path: Path) -> None:
    run_id = _run(home)
    out_file = tmp_path / "features.py"
    assert lesr("export", run_id, "--out", str(out_file), home=home).returncode == 0
    docstring = out_file.read_text().split('"""')[1]
    assert "outside any sandbox" in docstring


def test_wrapper_export_of_a_run_whose_env_cannot_be_made_exits_2(home: Path, lesr, tmp_path: Path) -> None:
    run_id = _run(home, env_id="NoSuchEnv-v3")
    out = lesr("export", run_id, "--format", "wrapper", "--out", str(tmp_path / "w.py"), home=home)
    assert out.returncode == 2, out.stderr
    assert "env NoSuchEnv-v3 cannot be made here" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "w.py").exists()


# -- the run's own shaping, its figures, recreatable from its spec ------------------------------

W, GAMMA = 0.5, 0.9  # a large w and an unusual gamma: both must come from the run, not from defaults


def _shaped_run(home: Path, shaping: str, comparison: Comparison | None = None) -> str:
    """A finished run written into a real store: the given shaping, w and gamma, and (optionally)
    the final evaluation's figures as search.summary stores them."""
    config = with_overrides(preset("smoke"), shaping=shaping, intrinsic_weight=W, **{"td3.gamma": GAMMA})
    with Store(home) as store:
        run_id = new_run_id()
        store.create_run(run_id, config.env_id, "smoke", config.to_dict())
        store.add_candidate(run_id, "i0-k0", iteration=0, sample=0, code=CODE, extra_dims=1)
        record_training(store, run_id, "i0-k0", purpose="search", candidate_id="i0-k0", score=8.0,
                        curve=[(1200, 8.0)])
        summary: dict[str, Any] = {"run_id": run_id}
        if comparison is not None:
            summary.update(final={**comparison.final_dict(), "steps": 1200}, verdict=comparison.sentence)
        store.end_run(run_id, "finished", None, summary, "i0-k0", 8.0, 4.0)
    return run_id


def _seeds(scores: dict[int, float]) -> dict[int, SeedResult]:
    return {seed: SeedResult(seed, score, None) for seed, score in scores.items()}


# The exported wrapper on the given env, seed and actions: per step (reward, terminated, truncated).
STEPS = r'''
import json, sys
import gymnasium
sys.path.insert(0, sys.argv[1])
from exported_lesr import LesrWrapper
env = LesrWrapper(gymnasium.make("InvertedPendulum-v5", max_episode_steps=int(sys.argv[2])))
env.reset(seed=int(sys.argv[3]))
out = []
for action in json.loads(sys.argv[4]):
    _, reward, term, trunc, info = env.step([action])
    out.append([reward, term, trunc, info["extrinsic_reward"]])
    if term or trunc:
        env.reset()
print(json.dumps(out))
'''


def _trainer_rewards(shaping: str, limit: int, seed: int, actions: list[float]) -> list[list[Any]]:
    """What the trainer stores (rl/feature_env.FeatureRewardWrapper, the SB3 trainings' wrapper, the
    same formula as rl/trainer.py) on the same env, seed and actions."""
    namespace: dict[str, Any] = {}
    exec(CODE, namespace)  # the test's own candidate, not LLM-written code
    features = Features(namespace["revise_state"], namespace["intrinsic_reward"])
    env = FeatureRewardWrapper(gymnasium.make("InvertedPendulum-v5", max_episode_steps=limit), features, W, 5,
                               shaping=shaping, gamma=GAMMA)
    env.reset(seed=seed)
    out = []
    for action in actions:
        _, reward, term, trunc, _ = env.step(np.array([action]))
        out.append([reward, term, trunc])
        if term or trunc:
            env.reset()
    env.close()
    return out


@pytest.mark.parametrize("shaping", ["additive", "potential"])
def test_exported_wrapper_rewards_equal_what_the_trainer_stores(home: Path, lesr, tmp_path: Path,
                                                                shaping: str) -> None:
    run_id = _shaped_run(home, shaping)
    out_file = tmp_path / "exported_lesr.py"
    out = lesr("export", run_id, "--format", "wrapper", "--out", str(out_file), home=home)
    assert out.returncode == 0, out.stderr
    # Episodes of 8 steps at most: gentle actions reach the time limit (truncation), a hard push ends
    # the episode by falling over (a true termination): both episode ends, several times.
    rng = np.random.default_rng(0)
    actions = [float(a) for _ in range(6) for a in (*rng.uniform(-0.05, 0.05, 8), *np.full(8, 3.0))]
    limit, seed = 8, 7
    proc = subprocess.run([sys.executable, "-c", STEPS, str(tmp_path), str(limit), str(seed), json.dumps(actions)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "MUJOCO_GL": "egl"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    exported = json.loads(proc.stdout.strip().splitlines()[-1])
    stored = _trainer_rewards(shaping, limit, seed, actions)
    assert [e[1:3] for e in exported] == [s[1:] for s in stored]
    assert any(s[1] for s in stored) and any(s[2] for s in stored), "both kinds of episode end"
    assert max(abs(e[0] - s[0]) for e, s in zip(exported, stored, strict=True)) < 1e-9
    assert any(abs(e[0] - e[3]) > 1e-3 for e in exported)  # the shaping term is really in the reward
    text = out_file.read_text()
    docstring = " ".join(text.split('"""')[1].split())
    assert f"{shaping} shaping" in docstring and f"w = {W:g}" in docstring
    assert f"SHAPING = {shaping!r}" in text and f"GAMMA = {GAMMA!r}" in text
    module = tmp_path / "module.py"
    assert lesr("export", run_id, "--out", str(module), home=home).returncode == 0
    assert f"{shaping} shaping" in " ".join(module.read_text().split('"""')[1].split())


def test_exported_figures_are_the_difference_and_the_verdict(home: Path, lesr, tmp_path: Path) -> None:
    # Two paired seeds, differences +11 and +0.667: the bootstrap range excludes 0, the t interval
    # does not, so the verdict is "no detectable difference"; the baseline mean (4.67 ± 5.19 over 2
    # seeds) is within 2 standard errors of 0, so there is no relative figure.
    comparison = compare(_seeds({1: 12.0, 2: 9.0}), _seeds({1: 1.0, 2: 8.333}))
    assert comparison.verdict == "no detectable difference" and comparison.improvement_relative is None
    run_id = _shaped_run(home, "potential", comparison)
    for fmt in ("wrapper", "module"):
        out_file = tmp_path / f"{fmt}.py"
        out = lesr("export", run_id, "--format", fmt, "--out", str(out_file), home=home)
        assert out.returncode == 0, out.stderr
        docstring = " ".join(out_file.read_text().split('"""')[1].split())
        assert "difference +5.833" in docstring
        assert re.search(r"[+-][0-9.]+%", docstring) is None, docstring  # no relative figure (was "+583.4%")
        assert "Verdict: no detectable difference" in docstring and "t interval [-59.81, +71.48]" in docstring
    # with a relative figure where the statistics gave one
    clear = compare(_seeds({1: 12.0, 2: 13.0, 3: 11.0}), _seeds({1: 10.0, 2: 10.5, 3: 9.5}))
    assert clear.improvement_relative is not None
    run_id = _shaped_run(home, "additive", clear)
    out_file = tmp_path / "clear.py"
    assert lesr("export", run_id, "--out", str(out_file), home=home).returncode == 0
    docstring = " ".join(out_file.read_text().split('"""')[1].split())
    assert f"difference +2 ({clear.improvement_relative:+.1%})" in docstring and "Verdict: better" in docstring


def test_a_single_paired_seed_exports_its_figures(home: Path, lesr, tmp_path: Path) -> None:
    run_id = _shaped_run(home, "additive", compare(_seeds({1: 7.0}), _seeds({1: 5.0})))
    for fmt in ("wrapper", "module"):
        out_file = tmp_path / f"{fmt}.py"
        out = lesr("export", run_id, "--format", fmt, "--out", str(out_file), home=home)
        assert out.returncode == 0, out.stderr
        docstring = " ".join(out_file.read_text().split('"""')[1].split())
        assert "LESR 7.00 over 1 seed," in docstring and "difference +2" in docstring
        assert "too few for an interval" in docstring


# Gymnasium's and SB3's env checkers, env.spec.make() and vector envs from the spec, in a fresh
# interpreter that imports the exported file the way a user does (by its module name).
CHECKERS = r'''
import json, sys, warnings
import gymnasium
import numpy as np
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
sys.path.insert(0, sys.argv[1])
from exported_lesr import LesrWrapper, make_env

env = LesrWrapper(make_env(), intrinsic_weight=0.25)
check_env(env, skip_render_check=True)  # no display here: the render modes are the env's, not ours
sb3_check_env(env)
again = env.spec.make()
out = {"remade": type(again).__name__, "weight": again.intrinsic_weight, "shaping": again.shaping,
       "gamma": again.gamma}
obs, _ = again.reset(seed=3)
ref, _ = env.reset(seed=3)
out["same_reset"] = bool(np.array_equal(obs, ref))
vec = gymnasium.make_vec(env.spec, num_envs=2, vectorization_mode="sync")
batch, _ = vec.reset(seed=1)
for _ in range(5):
    batch, rewards, _, _, _ = vec.step(vec.action_space.sample())
out["make_vec_obs_shape"] = list(batch.shape)
out["make_vec_weights"] = [e.get_wrapper_attr("intrinsic_weight") for e in vec.envs]
sync = gymnasium.vector.SyncVectorEnv([env.spec.make] * 2)
batch, _ = sync.reset(seed=1)
out["sync_obs_shape"] = list(sync.step(sync.action_space.sample())[0].shape)
print(json.dumps(out))
'''


def test_exported_wrapper_passes_the_env_checkers_and_is_recreated_from_its_spec(home: Path, lesr,
                                                                                 tmp_path: Path) -> None:
    run_id = _shaped_run(home, "potential")
    out_file = tmp_path / "exported_lesr.py"
    assert lesr("export", run_id, "--format", "wrapper", "--out", str(out_file), home=home).returncode == 0
    proc = subprocess.run([sys.executable, "-c", CHECKERS, str(tmp_path)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "MUJOCO_GL": "egl"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["remade"] == "LesrWrapper" and result["weight"] == 0.25
    assert result["shaping"] == "potential" and result["gamma"] == GAMMA and result["same_reset"]
    assert result["make_vec_obs_shape"] == [2, 5] and result["make_vec_weights"] == [0.25, 0.25]
    assert result["sync_obs_shape"] == [2, 5]
