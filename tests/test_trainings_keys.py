"""Training keys (trainings/keys.py): every setting that determines a training changes its key; what
does not (run id, worker count, paths, checkpoint spacing, threads) leaves it alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lesr_local.config import EvalConfig, TD3Config
from lesr_local.rl.spec import TrainSpec
from lesr_local.trainings.keys import training_key, training_settings
from tests.helpers_runs import PENDULUM_CANDIDATE as CODE


def _spec(**changes: object) -> TrainSpec:
    spec = TrainSpec(env_id="InvertedPendulum-v5", steps=1200, seed=1, candidate_source=CODE, intrinsic_weight=0.02,
                     shaping="additive", learner=TD3Config(hidden_sizes=(64, 64), start_steps=400, batch_size=64),
                     eval=EvalConfig(every=300, episodes=2, last_k=3, goal_episodes=2))
    return dataclasses.replace(spec, **changes)


BASE = training_key(_spec())


@pytest.mark.parametrize("changes", [
    {"env_id": "Hopper-v5"}, {"candidate_source": CODE.replace("s[1] * s[3]", "s[0] * s[3]")},
    {"candidate_source": None}, {"algo": "sac"}, {"seed": 2}, {"intrinsic_weight": 0.05},
    {"shaping": "potential"}, {"observation": "raw"}, {"runtime_checks": False},
    {"learner": TD3Config(hidden_sizes=(64, 64), start_steps=400, batch_size=128)},
    {"learner": TD3Config(hidden_sizes=(32, 32), start_steps=400, batch_size=64)},
    {"learner": TD3Config(hidden_sizes=(64, 64), start_steps=400, batch_size=64, gamma=0.98)},
    {"eval": EvalConfig(every=300, episodes=3, last_k=3, goal_episodes=2)},
    {"eval": EvalConfig(every=200, episodes=2, last_k=3, goal_episodes=2)},
])
def test_a_setting_that_determines_the_training_changes_its_key_and_lineage(changes: dict[str, object]) -> None:
    key, lineage, _ = training_key(_spec(**changes))
    assert key != BASE[0] and lineage != BASE[1]


def test_the_step_count_changes_the_key_but_not_the_lineage() -> None:
    key, lineage, _ = training_key(_spec(steps=2400))
    assert key != BASE[0] and lineage == BASE[1]


def test_rung_pauses_and_numerics_are_part_of_the_key() -> None:
    assert training_key(_spec(), pauses=(400,))[0] != BASE[0]
    assert training_key(_spec(), numerics="torch=2.13.0+cpu;device=cuda;cpu=x")[0] != BASE[0]


@pytest.mark.parametrize("changes", [
    {"threads": 2}, {"workers": 3}, {"checkpoint_every": 123}, {"checkpoint_dir": Path("/elsewhere")},
    {"policy_path": Path("/x.safetensors")}, {"pause_at_step": 600}, {"checkpoint_buffer": True},
    {"device": "cpu"},  # "auto" runs on the CPU here (no GPU), so the two are the same training
])
def test_what_does_not_determine_the_training_leaves_the_key(changes: dict[str, object]) -> None:
    assert training_key(_spec(**changes))[:2] == BASE[:2]


def test_the_raw_state_ignores_shaping_and_weight() -> None:
    raw = training_key(_spec(candidate_source=None))
    assert training_key(_spec(candidate_source=None, shaping="potential", intrinsic_weight=0.5))[:2] == raw[:2]
    # no intrinsic reward (w = 0): the shaping cannot matter either
    zero = training_key(_spec(intrinsic_weight=0.0))
    assert training_key(_spec(intrinsic_weight=0.0, shaping="potential"))[:2] == zero[:2]


def test_settings_name_what_the_key_covers() -> None:
    settings = training_settings(_spec())
    assert settings["env"]["gym_id"] == "InvertedPendulum-v5" and settings["code"] != "raw"
    assert {"numpy", "gymnasium", "mujoco"} <= set(settings["libraries"])
    assert settings["numerics"].startswith("torch=") and "device=cpu" in settings["numerics"]
    assert len(settings["trainer"]) == 16
