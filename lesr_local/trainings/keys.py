"""A training's key: a hash of everything that determines its result, so an identical training asked
for again (in this run, another run, an ablation, a transfer, `lesr evaluate`) is taken from the
home instead of trained again.

What goes in (`training_settings`):
- the env: lesr-local's id, the gymnasium id and options it is made with, the spec file's content;
- the candidate's code (exactly, as a sha256), or "raw" for the raw state;
- the algorithm, every TD3 / SB3 setting, the evaluation protocol, the seed;
- how the intrinsic reward enters: shaping and weight (none when w = 0 or the state is raw), and what
  the agent observes (F(s), or the raw state for the reward-only ablation);
- rung pauses (successive halving cuts an episode at a rung, so a paused training is not the same as
  an uninterrupted one) and whether the runtime checks run (they can fail a training);
- the trainer: a sha256 of the source files that compute a training (rl/, envs/ building), so any
  change of that code starts new keys; the versions of numpy, gymnasium, MuJoCo (and
  gymnasium-robotics, stable-baselines3 where used);
- the numerics it ran on: torch's version, the device type and the CPU model. Measured here: the
  same training with 1 and with 2 torch threads gave bit-identical curves, scores and Lipschitz
  vectors (HalfCheetah-v5, 4000 steps, 256-256 networks, seed 3), so the thread count is left out.
  A different CPU, device or torch changes floating-point rounding, which a chaotic RL training
  amplifies into different returns, so those are in. Nothing measured them against each other here
  (one CPU, no GPU): they are in because they can only cost reuse, never honesty.

The step count is in the key but not in the `lineage` (the same settings at any length): a training
of N steps can continue a shorter finished one of the same lineage from its last checkpoint (an
episode boundary, where a resume is exact), see trainings/service.py.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from lesr_local.envs.catalogue import get_env_info
from lesr_local.rl.numerics import expected_device, numerics_of, package_version
from lesr_local.rl.spec import TrainSpec

_PACKAGE = Path(__file__).resolve().parents[1]
# The code whose behaviour decides a training's numbers (a change here starts new keys).
TRAINER_SOURCES = (
    "rl/trainer.py", "rl/td3.py", "rl/networks.py", "rl/buffer.py", "rl/evaluation.py", "rl/features.py",
    "rl/lipschitz.py", "rl/feature_env.py", "rl/sb3_trainer.py", "rl/action_space.py", "envs/build.py", "envs/make.py", "envs/registry.py", "envs/ids.py",
)
KEY_FORMAT = 1


@functools.cache
def trainer_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in TRAINER_SOURCES:
        path = _PACKAGE / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()[:16]


def env_identity(env_id: str, env_spec: str | None) -> dict[str, Any]:
    info = get_env_info(env_id, env_spec)
    spec_text = Path(env_spec).read_bytes() if env_spec else b""
    return {"env_id": info.env_id, "gym_id": info.gym_id, "make_kwargs": info.make_kwargs,
            "obs_keys": list(info.obs_keys), "state_dim": info.state_dim,
            "env_spec_sha256": hashlib.sha256(spec_text).hexdigest() if env_spec else None}


def training_settings(spec: TrainSpec, pauses: tuple[int, ...] = (), numerics: str | None = None) -> dict[str, Any]:
    """Everything that determines the training's result, as plain JSON (see the module docstring)."""
    raw = spec.candidate_source is None
    weight = 0.0 if raw else float(spec.intrinsic_weight)
    libraries = {name: package_version(name) for name in ("numpy", "gymnasium", "mujoco")}
    if get_env_info(spec.env_id, spec.env_spec).family in ("antmaze", "fetch", "adroit"):
        libraries["gymnasium-robotics"] = package_version("gymnasium-robotics")
    if spec.algo != "td3":
        libraries["stable-baselines3"] = package_version("stable-baselines3")
    return {
        "format": KEY_FORMAT, "env": env_identity(spec.env_id, spec.env_spec),
        "code": "raw" if raw else hashlib.sha256(spec.candidate_source.encode()).hexdigest(),  # type: ignore[union-attr]
        "algo": spec.algo, "learner": dataclasses.asdict(spec.learner), "eval": dataclasses.asdict(spec.eval),
        "seed": spec.seed, "intrinsic_weight": weight, "shaping": spec.shaping if weight else None,
        "observation": "features" if raw else spec.observation, "pauses": list(pauses),
        "runtime_checks": spec.runtime_checks, "trainer": trainer_fingerprint(), "libraries": libraries,
        "numerics": numerics or numerics_of(expected_device(spec.device)),
    }


def digest(settings: dict[str, Any], steps: int | None) -> str:
    payload = dict(settings, steps=steps)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def training_key(spec: TrainSpec, pauses: tuple[int, ...] = (),
                 numerics: str | None = None) -> tuple[str, str, dict[str, Any]]:
    """(key, lineage, settings): the key includes the step count, the lineage does not."""
    settings = training_settings(spec, pauses, numerics)
    return digest(settings, spec.steps), digest(settings, None), settings
