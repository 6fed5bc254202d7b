"""`lesr export --format wrapper`: the written module works on its own, in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
