"""Gym-Robotics Adroit hand (v1, dense reward): a 24-DoF Shadow-like hand on an arm.

The hand joints are described once (finger x joint roles) and expanded; Door and Hammer then add
their object-specific dims in the order of each env's `_get_obs`.
"""

from __future__ import annotations

from collections.abc import Callable

from lesr_local.envs.info import EnvInfo
from lesr_local.envs.specs.builders import Dim, Joint, build, hinges, joint_positions, vector

_FINGERS = [("FF", "forefinger"), ("MF", "middle finger"), ("RF", "ring finger")]


def _hand_joints() -> list[Joint]:
    """Wrist, four fingers and thumb joints, in qpos order (shared by every Adroit env)."""
    joints = hinges(("WRJ1", "wrist, side-to-side (radial/ulnar)"), ("WRJ0", "wrist, up-down (flexion)"))
    for code, finger in _FINGERS:
        joints += hinges(
            (f"{code}J3", f"{finger} knuckle (MCP), side-to-side"), (f"{code}J2", f"{finger} knuckle (MCP), bend"),
            (f"{code}J1", f"{finger} middle joint (PIP)"), (f"{code}J0", f"{finger} tip joint (DIP)"),
        )
    joints += hinges(
        ("LFJ4", "little finger palm joint (CMC)"), ("LFJ3", "little finger knuckle (MCP), side-to-side"),
        ("LFJ2", "little finger knuckle (MCP), bend"), ("LFJ1", "little finger middle joint (PIP)"),
        ("LFJ0", "little finger tip joint (DIP)"),
        ("THJ4", "thumb base (CMC), rotation"), ("THJ3", "thumb base (CMC), bend"),
        ("THJ2", "thumb knuckle (MCP), side-to-side"), ("THJ1", "thumb knuckle (MCP), bend"),
        ("THJ0", "thumb tip joint (IP)"),
    )
    return joints


_HAND_TEXT = (
    "A simulated 24-joint robotic hand (wrist, four fingers, thumb) mounted on an arm is driven by "
    "position-controlled actuators (actions in [-1, 1] are scaled to each joint's range). "
)


def door_dims() -> list[Dim]:
    arm = hinges(("ARRx", "arm, vertical tilt"), ("ARRy", "arm, horizontal swing"), ("ARRz", "arm roll"))
    return (
        joint_positions(arm + _hand_joints())
        + [("angle of the door latch (handle turn)", "rad"),
           ("angle of the door hinge (how far the door is open; 0 = closed)", "rad")]
        + vector("palm centre position", "m")
        + vector("door handle position", "m")
        + vector("palm position minus handle position", "m")
        + [("door-open flag: 1 if the hinge angle > 1.0 rad, else -1", "flag")]
    )


def hammer_dims() -> list[Dim]:
    arm = hinges(("ARRx", "arm, vertical tilt"), ("ARRy", "arm, horizontal swing"))
    nail = Joint("nail_dir", "nail, driven into the board (0 = start, larger = deeper)", "slide")
    hammer_vel = [
        ("hammer velocity along x (clipped to [-1, 1])", "m/s"), ("hammer velocity along y (clipped to [-1, 1])", "m/s"),
        ("hammer velocity along z (clipped to [-1, 1])", "m/s"),
        ("hammer angular velocity about x (clipped to [-1, 1])", "rad/s"),
        ("hammer angular velocity about y (clipped to [-1, 1])", "rad/s"),
        ("hammer angular velocity about z (clipped to [-1, 1])", "rad/s"),
    ]
    return (
        joint_positions(arm + _hand_joints() + [nail])
        + hammer_vel
        + vector("palm centre position", "m")
        + vector("hammer (handle body) position", "m")
        + vector("hammer orientation as Euler angles", "rad")
        + vector("nail head position", "m")
        + [("touch sensor on the nail head: impact force (clipped to [-1, 1])", "N")]
    )


def door() -> EnvInfo:
    return build(
        "AdroitHandDoor-v1", door_dims(),
        _HAND_TEXT + "A door with a latch stands in front of the hand. Reach the handle, turn the latch "
        "to undo it, and swing the door open by pulling. The dense reward penalises the palm-to-handle "
        "distance and the remaining door angle, with bonuses of 2 / 8 / 10 once the hinge passes "
        "0.2 / 1.0 / 1.35 rad. 200 steps per episode.",
        name="Adroit Door", family="adroit", action_dim=28, metric="success_rate",
        success_rule="success when the door hinge angle is at least 1.35 rad (info['success'] at the last step)",
    )


def hammer() -> EnvInfo:
    return build(
        "AdroitHandHammer-v1", hammer_dims(),
        _HAND_TEXT + "A hammer lies on a table and a nail sticks out of a board. Pick up the hammer and "
        "strike the nail until it is fully driven into the board. The dense reward penalises the palm-"
        "to-hammer and hammer-head-to-nail distances and the nail's distance to the board, with bonuses "
        "for lifting the hammer and for driving the nail in (25 / 75 when within 0.02 / 0.01 m). "
        "200 steps per episode.",
        name="Adroit Hammer", family="adroit", action_dim=26, metric="success_rate",
        success_rule="success when the nail head is within 0.01 m of its fully-driven position "
        "(info['success'] at the last step)",
    )


ENTRIES: dict[str, Callable[[], EnvInfo]] = {"AdroitHandDoor-v1": door, "AdroitHandHammer-v1": hammer}
