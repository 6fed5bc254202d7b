# env: HalfCheetah-v5
import numpy as np

WEIGHTS = {"speed": 1.0, "posture": 0.2}


def revise_state(s):
    try:
        posture = float(np.mean(np.abs(s[2:8])))
    except (IndexError, ValueError):
        posture = 0.0
    return np.concatenate([s, np.array([posture, s[8] * WEIGHTS["speed"]])])


def intrinsic_reward(updated_s):
    return WEIGHTS["speed"] * float(np.tanh(updated_s[18])) - WEIGHTS["posture"] * updated_s[17]
