"""Gymnasium MuJoCo envs (v5, default options): locomotion benchmarks of the paper + InvertedPendulum.

Layouts follow each env's `_get_obs` in gymnasium/envs/mujoco/*_v5.py with default constructor
arguments: the root x (and y) position is excluded, Ant and Humanoid append per-body blocks.
"""

from __future__ import annotations

from collections.abc import Callable

from lesr_local.envs.info import EnvInfo
from lesr_local.envs.specs.builders import (
    CFRC_EXT,
    CINERT,
    CVEL,
    Dim,
    Joint,
    build,
    free_root_positions,
    free_root_velocities,
    hinges,
    joint_positions,
    joint_velocities,
    per_body,
)

_FORWARD = "The reward is the forward (+x) velocity minus a small control cost"


def _planar_root(body: str) -> tuple[list[Joint], list[Joint]]:
    """Planar walkers: qpos keeps rootz, rooty (rootx excluded); qvel keeps all three."""
    x = Joint("rootx", body, "slide", f"x position (forward) of the {body}", f"x velocity (forward) of the {body}")
    z = Joint("rootz", body, "slide", f"z position (height) of the {body}", f"z velocity (vertical) of the {body}")
    y = Joint("rooty", body, "hinge", f"pitch angle of the {body} (rotation about y)",
              f"pitch angular velocity of the {body}")
    return [z, y], [x, z, y]


def _planar(joints: list[Joint], body: str) -> list[Dim]:
    pos_root, vel_root = _planar_root(body)
    return joint_positions(pos_root + joints) + joint_velocities(vel_root + joints)


def half_cheetah() -> EnvInfo:
    legs = hinges(
        ("bthigh", "back thigh"), ("bshin", "back shin"), ("bfoot", "back foot"),
        ("fthigh", "front thigh"), ("fshin", "front shin"), ("ffoot", "front foot"),
    )
    return build(
        "HalfCheetah-v5", _planar(legs, "torso"),
        "A 2D cheetah-like robot (torso, back leg and front leg with thigh, shin and foot each) moves in "
        "the x-z plane. Make it run forward (+x) as fast as possible by applying torques to its six leg "
        f"joints. {_FORWARD}. Episodes last 1000 steps and never terminate early.",
        name="Half Cheetah", family="mujoco", action_dim=6,
    )


def hopper() -> EnvInfo:
    leg = hinges(("thigh_joint", "thigh"), ("leg_joint", "leg (shin)"), ("foot_joint", "foot"))
    return build(
        "Hopper-v5", _planar(leg, "torso"),
        "A 2D one-legged robot (torso, thigh, leg, foot) moves in the x-z plane. Make it hop forward (+x) "
        f"as fast as possible by applying torques to its three joints. {_FORWARD}, plus a healthy bonus "
        "of 1 per step while it stays healthy. The episode ends when it falls: torso height z <= 0.7 m, "
        "torso pitch |angle| >= 0.2 rad, or any other state value beyond +-100. Up to 1000 steps.",
        name="Hopper", family="mujoco", action_dim=3,
    )


def walker2d() -> EnvInfo:
    legs = hinges(
        ("thigh_joint", "right thigh"), ("leg_joint", "right leg (shin)"), ("foot_joint", "right foot"),
        ("thigh_left_joint", "left thigh"), ("leg_left_joint", "left leg (shin)"),
        ("foot_left_joint", "left foot"),
    )
    return build(
        "Walker2d-v5", _planar(legs, "torso"),
        "A 2D two-legged robot (torso and two legs with thigh, leg and foot each) moves in the x-z plane. "
        f"Make it walk forward (+x) as fast as possible by applying torques to its six joints. {_FORWARD}, "
        "plus a healthy bonus of 1 per step. The episode ends when it falls: torso height z outside "
        "(0.8, 2.0) m or torso pitch |angle| >= 1 rad. Up to 1000 steps.",
        name="Walker2d", family="mujoco", action_dim=6,
    )


def swimmer() -> EnvInfo:
    joints = [
        Joint("free_body_rot", "front link", "hinge", "heading angle of the front link (rotation in the x-y plane)",
              "angular velocity of the front link's heading"),
        Joint("motor1_rot", "first rotor (front-middle link)", "hinge"),
        Joint("motor2_rot", "second rotor (middle-back link)", "hinge"),
    ]
    slides = [
        Joint("slider1", "front tip", "slide", vel_text="x velocity (forward) of the front tip"),
        Joint("slider2", "front tip", "slide", vel_text="y velocity (sideways) of the front tip"),
    ]
    dims = joint_positions(joints) + joint_velocities(slides + joints)
    return build(
        "Swimmer-v5", dims,
        "A three-link swimmer in a viscous fluid moves in the x-y plane (seen from above). Make it swim "
        f"forward (+x) as fast as possible by applying torques to its two rotors. {_FORWARD}. The x and y "
        "position of the front tip are not observed. Episodes last 1000 steps.",
        name="Swimmer", family="mujoco", action_dim=2,
    )


# Ant body ids 1..13; the four lower-leg bodies are unnamed in ant.xml, so we name them here.
_ANT_BODIES = [
    "torso", "front_left_leg", "aux_1 (front-left upper leg)", "front-left lower leg",
    "front_right_leg", "aux_2 (front-right upper leg)", "front-right lower leg",
    "back_leg (back left)", "aux_3 (back-left upper leg)", "back-left lower leg",
    "right_back_leg", "aux_4 (back-right upper leg)", "back-right lower leg",
]


def ant() -> EnvInfo:
    legs = hinges(
        ("hip_1", "front-left hip (torso to front-left upper leg)"), ("ankle_1", "front-left ankle (knee)"),
        ("hip_2", "front-right hip"), ("ankle_2", "front-right ankle (knee)"),
        ("hip_3", "back-left hip"), ("ankle_3", "back-left ankle (knee)"),
        ("hip_4", "back-right hip"), ("ankle_4", "back-right ankle (knee)"),
    )
    forces = [(d, u) for d, u in per_body(_ANT_BODIES, CFRC_EXT)]
    forces = [(f"{d} (clipped to [-1, 1])", u) for d, u in forces]
    dims = (free_root_positions("torso") + joint_positions(legs)
            + free_root_velocities("torso") + joint_velocities(legs) + forces)
    return build(
        "Ant-v5", dims,
        "A 3D quadruped (a torso and four two-segment legs) walks on flat ground. Make it move forward "
        "(+x) as fast as possible by applying torques to its eight hip and ankle joints. The reward is the "
        "forward velocity plus a healthy bonus of 1 per step, minus control and contact costs. The episode "
        "ends when the torso height z leaves [0.2, 1.0] m. Up to 1000 steps. The torso x, y position is "
        "not observed.",
        name="Ant", family="mujoco", action_dim=8,
    )


_HUMANOID_BODIES = [
    "torso", "lwaist", "pelvis", "right_thigh", "right_shin", "right_foot", "left_thigh", "left_shin",
    "left_foot", "right_upper_arm", "right_lower_arm", "left_upper_arm", "left_lower_arm",
]
_HUMANOID_JOINTS = hinges(
    ("abdomen_z", "abdomen rotation about z"), ("abdomen_y", "abdomen rotation about y"),
    ("abdomen_x", "abdomen rotation about x"), ("right_hip_x", "right hip about x"),
    ("right_hip_z", "right hip about z"), ("right_hip_y", "right hip about y"), ("right_knee", "right knee"),
    ("left_hip_x", "left hip about x"), ("left_hip_z", "left hip about z"), ("left_hip_y", "left hip about y"),
    ("left_knee", "left knee"), ("right_shoulder1", "right shoulder, first axis"),
    ("right_shoulder2", "right shoulder, second axis"), ("right_elbow", "right elbow"),
    ("left_shoulder1", "left shoulder, first axis"), ("left_shoulder2", "left shoulder, second axis"),
    ("left_elbow", "left elbow"),
)


def humanoid_dims() -> list[Dim]:
    """Shared by Humanoid and HumanoidStandup (same model and observation)."""
    actuator = [(f"actuator torque applied at the {j.what} (joint {j.name})", "N*m") for j in _HUMANOID_JOINTS]
    return (
        free_root_positions("torso") + joint_positions(_HUMANOID_JOINTS)
        + free_root_velocities("torso") + joint_velocities(_HUMANOID_JOINTS)
        + per_body(_HUMANOID_BODIES, CINERT) + per_body(_HUMANOID_BODIES, CVEL)
        + actuator + per_body(_HUMANOID_BODIES, CFRC_EXT)
    )


def humanoid() -> EnvInfo:
    return build(
        "Humanoid-v5", humanoid_dims(),
        "A 3D bipedal humanoid (torso, abdomen, two legs, two arms) walks on flat ground. Make it walk "
        "forward (+x) as fast as possible without falling, by applying torques to its 17 joints. The reward "
        "is 1.25 x the forward velocity of its centre of mass plus a healthy bonus of 5 per step, minus "
        "control and contact costs. The episode ends when the torso height z leaves [1.0, 2.0] m. "
        "Up to 1000 steps. The torso x, y position is not observed.",
        name="Humanoid", family="mujoco", action_dim=17,
    )


def inverted_pendulum() -> EnvInfo:
    cart = Joint("slider", "cart", "slide", "x position of the cart on the rail (0 = centre)",
                 "x velocity of the cart")
    pole = Joint("hinge", "pole", "hinge", "angle of the pole from upright", "angular velocity of the pole")
    dims = joint_positions([cart, pole]) + joint_velocities([cart, pole])
    return build(
        "InvertedPendulum-v5", dims,
        "A cart moves along a 1D rail with a pole hinged on top. Keep the pole upright by pushing the "
        "cart left or right (one force action in [-3, 3]). The reward is +1 for every step the pole "
        "stays up; the episode ends when |pole angle| > 0.2 rad or any value is not finite. Up to 1000 "
        "steps (best return 1000).",
        name="Inverted Pendulum", family="mujoco", action_dim=1,
    )


ENTRIES: dict[str, Callable[[], EnvInfo]] = {
    "HalfCheetah-v5": half_cheetah,
    "Hopper-v5": hopper,
    "Walker2d-v5": walker2d,
    "Ant-v5": ant,
    "Swimmer-v5": swimmer,
    "Humanoid-v5": humanoid,
    "InvertedPendulum-v5": inverted_pendulum,
}
