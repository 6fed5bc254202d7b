# env: Hopper-v5
import numpy as np


def revise_state(s):
    if s[5] > 0:
        direction = 1.0
    elif s[5] < 0:
        direction = -1.0
    else:
        direction = 0.0
    knee_bend = abs(s[3]) + abs(s[4])
    return np.concatenate([s, np.array([direction, knee_bend])])


def intrinsic_reward(updated_s):
    reward = 0.2 * updated_s[11]
    if updated_s[12] > 2.0:
        reward -= 0.1
    return reward
