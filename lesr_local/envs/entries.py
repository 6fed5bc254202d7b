"""The hand-written catalogue entries (pure data), in `lesr envs` order.

The bottom of the envs package: everything else (id resolution, spec files, make_env, get_env_info)
reads CATALOGUE from here, and this module imports nothing but the spec data.
"""

from __future__ import annotations

from collections.abc import Callable

from lesr_local.envs.info import EnvInfo
from lesr_local.envs.specs import adroit, antmaze, fetch, mujoco_locomotion

__all__ = ["CATALOGUE"]

# Order = `lesr envs` order: the paper's MuJoCo envs, then Gym-Robotics, then extras.
CATALOGUE: dict[str, Callable[[], EnvInfo]] = {
    **mujoco_locomotion.ENTRIES,
    **antmaze.ENTRIES,
    **fetch.ENTRIES,
    **adroit.ENTRIES,
}
