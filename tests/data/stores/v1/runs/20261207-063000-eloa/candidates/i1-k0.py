import numpy as np
import math

def revise_state(s):
    f1 = np.maximum(s[2], s[3])
    f2 = np.maximum(s[3] - s[2], s[1])
    return np.concatenate([s, np.array([f1, f2])])


def intrinsic_reward(updated_s):
    return float(np.clip(np.abs(updated_s[4]) - np.abs(updated_s[2]) + 1, -10, 10))
