import numpy as np
import math

def revise_state(s):
    f1 = np.maximum(s[0], -1)
    f2 = np.minimum(s[1], -1)
    return np.concatenate([s, np.array([f1, f2])])


def intrinsic_reward(updated_s):
    return float(np.clip(np.abs(updated_s[4]), -10, 10))
