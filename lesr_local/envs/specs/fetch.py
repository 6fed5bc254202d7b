"""Gym-Robotics FetchPushDense-v4: a 7-DoF Fetch arm pushes a block to a target on a table.

Flattening: observation + desired_goal. The achieved goal (block position) is already in the
observation (dims 3-5), so it is not repeated. Velocities in this env are multiplied by the control
step dt = 0.04 s, so they are displacements per step (m per step), not m/s.
"""

from __future__ import annotations

from collections.abc import Callable

from lesr_local.envs.info import EnvInfo
from lesr_local.envs.specs.builders import Dim, build, vector

_PER_STEP = "m/step"  # velocity x dt (0.04 s)
_RAD_PER_STEP = "rad/step"

SUCCESS_RULE = (
    "success when the block is within 0.05 m (Euclidean) of the target position "
    "(info['is_success'] at the last step of the 50-step episode)"
)


def _dims() -> list[Dim]:
    return (
        vector("gripper (end effector) position in the world", "m")
        + vector("block position in the world", "m")
        + vector("block position relative to the gripper (block minus gripper)", "m")
        + [("right finger opening (finger joint displacement)", "m"),
           ("left finger opening (finger joint displacement)", "m")]
        + vector("block orientation as XYZ Euler angles", "rad")
        + vector("block linear velocity relative to the gripper, times dt", _PER_STEP)
        + vector("block angular velocity, times dt", _RAD_PER_STEP)
        + vector("gripper linear velocity, times dt", _PER_STEP)
        + [("right finger velocity, times dt", _PER_STEP), ("left finger velocity, times dt", _PER_STEP)]
        + vector("target position for the block (desired goal)", "m")
    )


def fetch_push() -> EnvInfo:
    return build(
        "FetchPushDense-v4", _dims(),
        "A Fetch robot arm with a two-finger gripper (fingers kept closed) stands at a table with a "
        "block on it. Push the block to the target position on the table (sampled each episode). "
        "Actions move the gripper by dx, dy, dz (plus a finger command) each step. The dense reward is "
        "the negative distance between the block and the target. 50 steps per episode.",
        name="Fetch Push", family="fetch", action_dim=4, metric="success_rate",
        success_rule=SUCCESS_RULE, obs_keys=("observation", "desired_goal"),
    )


ENTRIES: dict[str, Callable[[], EnvInfo]] = {"FetchPushDense-v4": fetch_push}
