"""Access to gymnasium's env registry, registering gymnasium-robotics only when an id needs it.

gymnasium-robotics takes a while to import and prints deprecation chatter, so it is imported lazily
and quietly, the first time an id is not found in plain gymnasium.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

_robotics_loaded = False


def gym_registry() -> dict[str, Any]:
    import gymnasium

    return gymnasium.registry


def ensure_registered(gym_id: str) -> bool:
    """True when `gym_id` is (now) a registered gymnasium id."""
    registry = gym_registry()
    if gym_id in registry:
        return True
    load_robotics()
    return gym_id in registry


def load_robotics() -> None:
    global _robotics_loaded
    if _robotics_loaded:
        return
    _robotics_loaded = True
    import gymnasium

    # The import warns about reward changes of env versions we do not use; keep the CLI clean.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            import gymnasium_robotics
        except ImportError:
            return
        gymnasium.register_envs(gymnasium_robotics)
    _patch_joint_type_checks()


class _JointTypes:
    """Plain-int stand-ins for mujoco.mjtJoint members (values fixed by the MuJoCo C API)."""

    mjJNT_FREE = 0
    mjJNT_BALL = 1
    mjJNT_SLIDE = 2
    mjJNT_HINGE = 3


class _MujocoWithIntJointTypes:
    """Proxy of the mujoco module whose `mjtJoint` members are plain ints."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.mjtJoint = _JointTypes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _patch_joint_type_checks() -> None:
    """Work around gymnasium-robotics 1.4 + mujoco >= 4: its joint helpers check
    `model.jnt_type[i] in (mjtJoint.mjJNT_HINGE, mjtJoint.mjJNT_SLIDE)`, which is False for a numpy
    int against the new enum type (== still works, `in` does not), so every Fetch env fails an
    assertion in make(). Only the helpers module's view of `mujoco.mjtJoint` is changed, and only
    when the incompatibility is actually present."""
    try:
        import mujoco
        import numpy as np
        from gymnasium_robotics.utils import mujoco_utils
    except ImportError:
        return
    if np.int32(3) in (mujoco.mjtJoint.mjJNT_HINGE,):
        return  # this mujoco compares fine; nothing to do
    if isinstance(mujoco_utils.mujoco, _MujocoWithIntJointTypes):
        return
    mujoco_utils.mujoco = _MujocoWithIntJointTypes(mujoco_utils.mujoco)


def all_gym_ids() -> list[str]:
    load_robotics()
    return sorted(gym_registry())
