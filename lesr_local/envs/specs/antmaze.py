"""Gym-Robotics AntMaze (v5, dense reward): an Ant must walk through a maze to a goal cell.

Flattening: observation + achieved_goal + desired_goal. The ant's own x, y live only in
`achieved_goal`, so without it no policy feature could compute the distance to the goal.
We build the env without contact forces (`include_cfrc_ext_in_observation=False`): that is the
27-dim ant observation the paper used (AntMaze v4 default); v5's default would add 78 clipped
contact-force dims that carry almost no signal for navigation.
"""

from __future__ import annotations

from collections.abc import Callable

from lesr_local.envs.info import EnvInfo
from lesr_local.envs.specs.builders import (
    Dim,
    build,
    free_root_positions,
    free_root_velocities,
    hinges,
    joint_positions,
    joint_velocities,
)

SUCCESS_RULE = (
    "a step is a success when the ant torso (x, y) is within 0.45 m (Euclidean) of the goal (x, y) "
    "(info['success']); an episode counts as a success when its last step is one, since reaching the "
    "goal does not end the episode"
)

_LEGS = hinges(
    ("hip_1", "front-left hip"), ("ankle_1", "front-left ankle (knee)"),
    ("hip_2", "front-right hip"), ("ankle_2", "front-right ankle (knee)"),
    ("hip_3", "back-left hip"), ("ankle_3", "back-left ankle (knee)"),
    ("hip_4", "back-right hip"), ("ankle_4", "back-right ankle (knee)"),
)

# (catalogue id, maze words, map size for the task text)
_MAZES = [
    ("AntMaze_OpenDense-v5", "an open arena without inner walls", "5 x 7 cells", 700),
    ("AntMaze_MediumDense-v5", "a medium maze with inner walls", "8 x 8 cells", 1000),
    ("AntMaze_LargeDense-v5", "a large maze with many inner walls", "9 x 12 cells", 1000),
]


def _dims() -> list[Dim]:
    ant = (free_root_positions("ant torso") + joint_positions(_LEGS)
           + free_root_velocities("ant torso") + joint_velocities(_LEGS))
    achieved = [("current x position of the ant torso in the maze (achieved goal)", "m"),
                ("current y position of the ant torso in the maze (achieved goal)", "m")]
    desired = [("x position of the goal to reach (desired goal)", "m"),
               ("y position of the goal to reach (desired goal)", "m")]
    return ant + achieved + desired


def _entry(env_id: str, maze: str, size: str, steps: int) -> Callable[[], EnvInfo]:
    def make_info() -> EnvInfo:
        info = build(
            env_id, _dims(),
            f"A 3D quadruped ant (torso and four two-segment legs, 8 torque-controlled joints) walks in "
            f"{maze} ({size} of 4 m, surrounded by walls). Move the ant torso to the goal position "
            "(x, y), which is resampled each episode. The dense reward is exp(-d), where d is the "
            f"distance from the torso to the goal. Reaching the goal does not end the episode (it runs "
            f"{steps} steps), so the ant should get there fast and stay. The ant's x, y position is "
            "given only as the achieved-goal dims.",
            name=env_id.split("-")[0].replace("_", " "), family="antmaze", action_dim=8,
            metric="success_rate", success_rule=SUCCESS_RULE,
            obs_keys=("observation", "achieved_goal", "desired_goal"),
        )
        info.make_kwargs = {"include_cfrc_ext_in_observation": False}
        return info

    return make_info


ENTRIES: dict[str, Callable[[], EnvInfo]] = {m[0]: _entry(*m) for m in _MAZES}
