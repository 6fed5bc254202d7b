"""The env catalogue against the real MuJoCo / Gym-Robotics envs (no mocks)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from lesr_local.envs import (
    env_max_episode_steps,
    episode_success,
    get_env_info,
    list_envs,
    make_env,
    resolve_env_id,
    sample_states,
)
from lesr_local.envs.catalogue import CATALOGUE
from lesr_local.envs.check_states import spread_states
from lesr_local.errors import BadInput

PAPER_ENVS = [
    "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5", "Swimmer-v5", "Humanoid-v5",
    "AntMaze_OpenDense-v5", "AntMaze_MediumDense-v5", "AntMaze_LargeDense-v5", "FetchPushDense-v4",
    "AdroitHandDoor-v1", "AdroitHandHammer-v1",
]
GOAL_ENVS = {"AntMaze_OpenDense-v5", "AntMaze_MediumDense-v5", "AntMaze_LargeDense-v5",
             "FetchPushDense-v4", "AdroitHandDoor-v1", "AdroitHandHammer-v1"}


def test_every_paper_env_and_the_smoke_env_is_catalogued() -> None:
    assert set(PAPER_ENVS) | {"InvertedPendulum-v5"} <= set(CATALOGUE)
    assert [i.env_id for i in list_envs()] == list(CATALOGUE)


@pytest.mark.parametrize("env_id", list(CATALOGUE))
def test_described_dims_match_the_real_flattened_observation(env_id: str) -> None:
    info = get_env_info(env_id)
    env = make_env(env_id, seed=0)
    try:
        obs, _ = env.reset()
        for _ in range(3):
            obs, *_ = env.step(env.action_space.sample())
        assert env.observation_space.shape == (info.state_dim,)
        assert obs.shape == (info.state_dim,) and obs.dtype == np.float64
        assert env.action_space.shape == (info.action_dim,)
    finally:
        env.close()
    assert len(info.dims) == info.state_dim
    assert [d.index for d in info.dims] == list(range(info.state_dim))
    for d in info.dims:
        assert d.description.strip() and d.unit.strip(), (env_id, d)
    assert len({d.description for d in info.dims}) == info.state_dim, "every dim says something different"
    assert info.catalogued and info.task.strip() and info.name
    if env_id in GOAL_ENVS:
        assert info.metric == "success_rate" and info.success_rule
    else:
        assert info.metric == "return" and info.success_rule is None


@pytest.mark.parametrize("env_id", list(CATALOGUE))
def test_named_dims_agree_with_the_simulator(env_id: str) -> None:
    """Every catalogued dim naming a joint (or a body) must hold that joint's qpos / qvel (that
    body's quantity): the automatic describer matches the real observation values against the
    MuJoCo arrays, index by index."""
    from lesr_local.envs.autodescribe import describe_env

    info = get_env_info(env_id)
    auto = describe_env(info.gym_id, info.make_kwargs, info.obs_keys or None)
    assert auto.state_dim == info.state_dim
    checked = 0
    for mine, found in zip(info.dims, auto.dims, strict=True):
        body = re.search(r"(.+) on body '([^']+)'", mine.description)
        if body is not None:  # per-body blocks (cinert, cvel, cfrc_ext): same quantity, same body
            checked += 1
            found_body = re.search(r"on body '([^']+)'", found.description)
            assert found.description.startswith(body.group(1)) and found_body, (mine, found)
            assert found_body.group(1) in body.group(2) or found_body.group(1).startswith("body "), (mine, found)
            continue
        joint = re.search(r"\(joint (\S+)\)", mine.description)
        if joint is None:
            continue
        checked += 1
        assert f"'{joint.group(1)}'" in found.description, (mine, found)
        assert mine.unit.endswith("/s") == found.unit.endswith("/s"), (mine, found)
    assert checked > 0 or env_id == "FetchPushDense-v4"


def test_goal_observations_are_flattened_with_the_positions_the_llm_needs() -> None:
    maze = get_env_info("AntMaze_OpenDense-v5")
    assert maze.obs_keys == ("observation", "achieved_goal", "desired_goal") and maze.state_dim == 31
    env = make_env("AntMaze_OpenDense-v5", seed=1)
    try:
        env.reset()
        obs, _, _, _, info = env.step(env.action_space.sample())
        np.testing.assert_allclose(obs[27:29], [info["x_position"], info["y_position"]])  # ant x, y
        np.testing.assert_allclose(obs[29:31], env.unwrapped.goal)
    finally:
        env.close()
    push = get_env_info("FetchPushDense-v4")
    assert push.obs_keys == ("observation", "desired_goal") and push.state_dim == 28
    env = make_env("FetchPushDense-v4", seed=1)
    try:
        obs, _ = env.reset()
        np.testing.assert_allclose(obs[25:28], env.unwrapped.goal)
        np.testing.assert_allclose(obs[6:9], obs[3:6] - obs[0:3])  # block relative to gripper
    finally:
        env.close()


def test_adroit_derived_dims() -> None:
    env = make_env("AdroitHandDoor-v1", seed=2)
    try:
        env.reset()
        obs, *_ = env.step(env.action_space.sample())
        np.testing.assert_allclose(obs[35:38], obs[29:32] - obs[32:35])  # palm minus handle
        assert obs[38] in (-1.0, 1.0)
    finally:
        env.close()
    states = sample_states("AdroitHandHammer-v1", 30, seed=2)
    assert np.all(np.abs(states[:, 27:33]) <= 1.0) and np.all(np.abs(states[:, 45]) <= 1.0)


@pytest.mark.parametrize(("old", "new"), [
    ("HalfCheetah-v4", "HalfCheetah-v5"), ("Hopper-v4", "Hopper-v5"), ("Ant-v4", "Ant-v5"),
    ("AntMaze_OpenDense-v4", "AntMaze_OpenDense-v5"), ("AntMaze_Large_Dense-v4", "AntMaze_LargeDense-v5"),
    ("FetchPushDense-v2", "FetchPushDense-v4"), ("AdroitHandDoor-v1", "AdroitHandDoor-v1"),
])
def test_older_ids_map_to_the_catalogue(old: str, new: str) -> None:
    assert resolve_env_id(old) == new
    assert get_env_info(old).env_id == new


def test_old_robotics_id_makes_the_current_env() -> None:
    env = make_env("FetchPushDense-v2", seed=0)
    try:
        assert env.observation_space.shape == (28,)
    finally:
        env.close()


def test_unknown_id_is_one_line_bad_input_naming_close_matches() -> None:
    with pytest.raises(BadInput) as err:
        get_env_info("HalfCheeta-v5")
    message = str(err.value)
    assert "HalfCheetah-v5" in message and "\n" not in message
    with pytest.raises(BadInput, match="Hopper-v5"):
        make_env("hopper-v9")
    with pytest.raises(BadInput):
        resolve_env_id("   ")


def test_sample_states_are_real_reproducible_and_cross_episode_ends() -> None:
    states = sample_states("Hopper-v5", 400, seed=3)
    assert states.shape == (400, 11) and states.dtype == np.float64 and np.isfinite(states).all()
    np.testing.assert_array_equal(states, sample_states("Hopper-v5", 400, seed=3))
    assert not np.array_equal(states, sample_states("Hopper-v5", 400, seed=4))
    # A random Hopper falls within a few dozen steps: a reset shows as a jump back near the start
    # height (1.25 m) with near-zero velocities, so some state after the first is close to a reset.
    start = states[0]
    near_reset = np.abs(states[1:, :5] - start[:5]).max(axis=1) < 0.02
    assert near_reset.any()
    with pytest.raises(BadInput):
        sample_states("Hopper-v5", 0)


def test_make_env_seed_is_deterministic() -> None:
    a, b = make_env("HalfCheetah-v5", seed=7), make_env("HalfCheetah-v5", seed=7)
    try:
        np.testing.assert_array_equal(a.reset()[0], b.reset()[0])
        np.testing.assert_array_equal(a.action_space.sample(), b.action_space.sample())
    finally:
        a.close()
        b.close()


def test_episode_success_reads_each_family_flag() -> None:
    assert episode_success({"is_success": np.float32(1.0)}) is True
    assert episode_success({"is_success": 0.0}) is False
    assert episode_success({"success": np.True_}) is True
    assert episode_success({"success": False}) is False
    assert episode_success({}) is False
    for env_id in ("FetchPushDense-v4", "AdroitHandDoor-v1", "AntMaze_OpenDense-v5"):
        env = make_env(env_id, seed=0)
        try:
            env.reset()
            _, _, _, _, info = env.step(env.action_space.sample())
            assert episode_success(info) is False  # one random step never solves these
        finally:
            env.close()


def test_max_episode_steps() -> None:
    assert env_max_episode_steps("HalfCheetah-v5") == 1000
    assert env_max_episode_steps("FetchPushDense-v2") == 50
    assert env_max_episode_steps("AntMaze_OpenDense-v5") == 700
    assert env_max_episode_steps("AdroitHandHammer-v1") == 200
    assert env_max_episode_steps("Reacher-v5") == 50


def test_importing_the_catalogue_does_not_import_gymnasium() -> None:
    code = ("import sys, lesr_local.envs as e, lesr_local.envs.catalogue as c;"
            "e.get_env_info('Hopper-v5'); c.list_envs();"
            "assert 'gymnasium' not in sys.modules and 'mujoco' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_plain_mujoco_envs_do_not_import_gymnasium_robotics() -> None:
    code = ("import sys; from lesr_local.envs import make_env, resolve_env_id;"
            "make_env('Hopper-v5', seed=0).close(); resolve_env_id('Reacher-v5');"
            "assert 'gymnasium_robotics' not in sys.modules, 'slow import for a plain MuJoCo env'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_check_states_span_several_episodes_and_later_steps() -> None:
    states, positions = spread_states("HalfCheetah-v5", 64, seed=5)
    assert states.shape == (64, 17) and positions.shape == (64, 2) and np.isfinite(states).all()
    episodes = set(positions[:, 0].tolist())
    assert episodes == {0, 1, 2, 3}
    # every episode's reset state, each from reset(seed=5 + e)
    for e in range(4):
        [row] = np.flatnonzero((positions[:, 0] == e) & (positions[:, 1] == 0))
        env = make_env("HalfCheetah-v5")
        obs, _ = env.reset(seed=5 + e)
        env.close()
        np.testing.assert_array_equal(states[row], obs)
    # the rest spread over the 300-step rollouts, up to their ends
    later = positions[positions[:, 1] > 0, 1]
    assert later.min() < 30 and later.max() >= 290
    assert len({tuple(p) for p in positions.tolist()}) == 64  # no state twice
    again, _ = spread_states("HalfCheetah-v5", 64, seed=5)
    np.testing.assert_array_equal(states, again)


def test_check_states_of_short_episodes() -> None:
    # A random Hopper falls within a few dozen steps: the episodes end early and still give 64 states.
    states, positions = spread_states("Hopper-v5", 64, seed=0)
    assert states.shape == (64, 11) and set(positions[:, 0].tolist()) == {0, 1, 2, 3}
    assert positions[:, 1].max() < 300
