# expect: (an infinite loop?)
# layer: sandbox
import numpy as np


def revise_state(s):
    n = 7 ** (10 ** 8)
    return np.concatenate([s, [float(n % 3)]])


def intrinsic_reward(updated_s):
    return 0.0
