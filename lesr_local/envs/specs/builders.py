"""Compact builders that expand joint / body / vector lists into per-dim (description, unit) pairs.

Catalogue modules describe a robot once (its joints with a human meaning) and these helpers turn
that into the qpos / qvel / per-body blocks of the observation, so no module hand-writes hundreds of
near-identical lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lesr_local.envs.info import DimInfo, EnvInfo

Dim = tuple[str, str]  # (description, unit)

POS_UNIT = {"slide": "m", "hinge": "rad"}
VEL_UNIT = {"slide": "m/s", "hinge": "rad/s"}


@dataclass(frozen=True)
class Joint:
    """One scalar joint: `what` is the human meaning of its coordinate (e.g. "back thigh")."""

    name: str  # name in the MuJoCo XML
    what: str
    kind: str = "hinge"  # "slide" | "hinge"
    pos_text: str | None = None  # full wording, when "angle of the <what>" reads badly (root joints)
    vel_text: str | None = None


def hinges(*pairs: tuple[str, str]) -> list[Joint]:
    return [Joint(name, what, "hinge") for name, what in pairs]


def joint_positions(joints: Iterable[Joint]) -> list[Dim]:
    out: list[Dim] = []
    for j in joints:
        word = "position" if j.kind == "slide" else "angle"
        text = j.pos_text or f"{word} of the {j.what}"
        out.append((f"{text} (joint {j.name})", POS_UNIT[j.kind]))
    return out


def joint_velocities(joints: Iterable[Joint]) -> list[Dim]:
    out: list[Dim] = []
    for j in joints:
        word = "velocity" if j.kind == "slide" else "angular velocity"
        text = j.vel_text or f"{word} of the {j.what}"
        out.append((f"{text} (joint {j.name})", VEL_UNIT[j.kind]))
    return out


def vector(what: str, unit: str, axes: str = "xyz") -> list[Dim]:
    """A small vector quantity, one dim per axis: "x of the gripper position", ..."""
    return [(f"{what}, {axis} component", unit) for axis in axes]


def free_root_positions(body: str, with_xy: bool = False) -> list[Dim]:
    """qpos of a free joint: (x, y,) z then the orientation quaternion (w, x, y, z)."""
    dims: list[Dim] = []
    if with_xy:
        dims += [(f"x position of the {body} in the world", "m"), (f"y position of the {body} in the world", "m")]
    dims.append((f"z position (height) of the {body}", "m"))
    dims += [(f"orientation quaternion of the {body}, {c} component", "unitless") for c in "wxyz"]
    return dims


def free_root_velocities(body: str) -> list[Dim]:
    """qvel of a free joint: linear velocity (x, y, z) then angular velocity (x, y, z)."""
    lin = [(f"{axis} velocity of the {body}", "m/s") for axis in "xyz"]
    ang = [(f"angular velocity of the {body} about the {axis} axis", "rad/s") for axis in "xyz"]
    return lin + ang


# Per-body MuJoCo quantities that some envs append (Ant, Humanoid): component names and units.
CFRC_EXT = [
    ("external torque about x", "N*m"), ("external torque about y", "N*m"), ("external torque about z", "N*m"),
    ("external force along x", "N"), ("external force along y", "N"), ("external force along z", "N"),
]
CVEL = [
    ("com-based angular velocity about x", "rad/s"), ("com-based angular velocity about y", "rad/s"),
    ("com-based angular velocity about z", "rad/s"), ("com-based linear velocity along x", "m/s"),
    ("com-based linear velocity along y", "m/s"), ("com-based linear velocity along z", "m/s"),
]
CINERT = [
    ("com-based inertia Ixx", "kg*m^2"), ("com-based inertia Iyy", "kg*m^2"), ("com-based inertia Izz", "kg*m^2"),
    ("com-based inertia Ixy", "kg*m^2"), ("com-based inertia Ixz", "kg*m^2"), ("com-based inertia Iyz", "kg*m^2"),
    ("mass times com offset along x", "kg*m"), ("mass times com offset along y", "kg*m"),
    ("mass times com offset along z", "kg*m"), ("body mass", "kg"),
]


def per_body(bodies: Sequence[str], components: Sequence[Dim]) -> list[Dim]:
    """Body-major expansion (MuJoCo stores cfrc_ext / cvel / cinert as [nbody, k])."""
    return [(f"{comp} on body '{body}'", unit) for body in bodies for comp, unit in components]


def build(
    env_id: str, dims: Sequence[Dim], task: str, *, name: str, family: str, action_dim: int,
    metric: str = "return", success_rule: str | None = None, obs_keys: tuple[str, ...] = (),
    gym_id: str | None = None,
) -> EnvInfo:
    return EnvInfo(
        env_id=env_id, state_dim=len(dims),
        dims=[DimInfo(i, desc, unit) for i, (desc, unit) in enumerate(dims)],
        task=task, metric=metric, success_rule=success_rule, goal_based=bool(obs_keys),
        obs_keys=obs_keys, catalogued=True, action_dim=action_dim, name=name, family=family,
        gym_id=gym_id or env_id,
    )
