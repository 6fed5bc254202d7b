"""Automatic description of uncatalogued envs from their MuJoCo model (real envs, no mocks)."""

from __future__ import annotations

import numpy as np
import pytest

from lesr_local.envs import get_env_info, make_env, sample_states
from lesr_local.envs.autodescribe import describe_env
from lesr_local.errors import BadInput


def _check_counts(env_id: str, **make_kwargs: object):
    info = describe_env(env_id, dict(make_kwargs)) if make_kwargs else get_env_info(env_id)
    env = make_env(env_id) if not make_kwargs else None
    if env is not None:
        assert env.observation_space.shape == (info.state_dim,)
        env.close()
    assert len(info.dims) == info.state_dim
    assert [d.index for d in info.dims] == list(range(info.state_dim))
    assert all(d.description.strip() and d.unit.strip() for d in info.dims)
    assert not info.catalogued and info.task.strip() and info.metric == "return"
    return info


def test_inverted_double_pendulum_layout_is_inferred() -> None:
    info = _check_counts("InvertedDoublePendulum-v5")
    descs = [d.description for d in info.dims]
    assert info.state_dim == 9
    assert "slide joint 'slider'" in descs[0] and info.dims[0].unit == "m"
    assert descs[1].startswith("sine of the angle of hinge joint 'hinge'")
    assert descs[4].startswith("cosine of the angle of hinge joint 'hinge2'")
    assert "velocity of slide joint 'slider'" in descs[5] and info.dims[5].unit == "m/s"


def test_reacher_finds_sin_cos_target_and_fingertip_offset() -> None:
    info = _check_counts("Reacher-v5")
    descs = [d.description for d in info.dims]
    assert descs[0].startswith("cosine of the angle of hinge joint 'joint0'")
    assert descs[2].startswith("sine of the angle of hinge joint 'joint0'")
    assert "'target_x'" in descs[4] and "'target_y'" in descs[5]
    assert "'fingertip'" in descs[8] and "'target'" in descs[8]
    assert all(d.unit != "unknown" for d in info.dims)


def test_pusher_finds_arm_joints_and_body_positions() -> None:
    info = _check_counts("Pusher-v5")
    descs = [d.description for d in info.dims]
    assert "'r_shoulder_pan_joint'" in descs[0] and info.dims[0].unit == "rad"
    assert "'r_wrist_roll_joint'" in descs[13] and info.dims[13].unit == "rad/s"
    assert "'tips_arm'" in descs[14] and "'object'" in descs[17] and "'goal'" in descs[20]
    assert "obj_slidex" in info.task  # the object's slide joints are not observed directly


def test_humanoid_standup_blocks_and_excluded_root_position() -> None:
    info = _check_counts("HumanoidStandup-v5")
    assert info.state_dim == 348
    assert all(d.unit != "unknown" for d in info.dims)
    assert "z position of free joint 'root'" in info.dims[0].description
    assert "x position of free joint 'root'" in info.task  # excluded root x is reported
    assert "cinert" in info.task and "cfrc_ext" in info.task
    assert "mass" in info.dims[22 + 23 + 9].description  # 10th cinert entry of the first body


def test_ant_option_changes_are_followed() -> None:
    """Default Ant-v5 appends 78 contact-force dims; without them the layout shrinks to 27."""
    full = describe_env("Ant-v5")
    slim = _check_counts("Ant-v5", include_cfrc_ext_in_observation=False)
    assert full.state_dim == 105 and slim.state_dim == 27
    assert "clipped to [-1, 1]" in full.dims[30].description
    assert [d.description for d in slim.dims] == [d.description for d in full.dims[:27]]


def test_uncatalogued_robotics_goal_env_is_flattened_and_counted() -> None:
    info = get_env_info("FetchReachDense-v4")
    assert info.obs_keys == ("observation", "achieved_goal", "desired_goal")
    assert info.goal_based and info.metric == "success_rate" and info.success_rule
    assert sample_states("FetchReachDense-v4", 5).shape == (5, info.state_dim) == (5, 16)
    assert "'robot0:grip'" in info.dims[0].description


def test_env_without_mujoco_model_gets_generic_dims() -> None:
    info = get_env_info("Pendulum-v1")
    assert info.state_dim == 3
    assert all(d.description.startswith("observation component") for d in info.dims)
    assert "could not be identified" in info.task


def test_discrete_action_env_is_rejected() -> None:
    with pytest.raises(BadInput, match="continuous"):
        get_env_info("CartPole-v1")


def test_describing_is_deterministic() -> None:
    a, b = describe_env("Reacher-v5", seed=0), describe_env("Reacher-v5", seed=5)
    assert [d.description for d in a.dims] == [d.description for d in b.dims]
    assert np.isfinite(sample_states("Reacher-v5", 20)).all()
