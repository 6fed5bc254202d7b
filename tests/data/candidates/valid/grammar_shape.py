# env: InvertedPendulum-v5
import numpy as np
import math


def revise_state(s):
    # pole angle magnitude
    f1 = np.abs(s[1])
    f2 = s[1] * s[3] / (np.abs(s[2]) + 1.0)
    return np.concatenate([s, np.array([f1, f2])])


def intrinsic_reward(updated_s):
    return float(-1.0 * updated_s[4] + 0.1 * math.tanh(updated_s[5]))
