# env: HalfCheetah-v5
# The format LESR results are shared in: one module, comments and docstrings, math helpers.
import numpy as np
import math


def revise_state(s):
    """Add torso stability and gait features."""
    # torso pitch angle and angular velocity
    pitch = s[1]
    pitch_rate = s[10]
    stability = 1.0 / (1.0 + abs(pitch) + 0.1 * abs(pitch_rate))
    # coordination of back and front thigh angles
    coordination = math.cos(s[2] - s[5])
    updated_s = np.concatenate((s, np.array([stability, coordination])))
    return updated_s


def intrinsic_reward(updated_s):
    stability = updated_s[17]
    coordination = updated_s[18]
    return 0.1 * stability + 0.05 * coordination
