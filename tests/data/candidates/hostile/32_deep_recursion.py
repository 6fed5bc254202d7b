# expect: recursion limit
# layer: sandbox
import numpy as np


def depth(n):
    return depth(n + 1) + 1


def revise_state(s):
    return np.concatenate([s, [depth(0)]])


def intrinsic_reward(updated_s):
    return 0.0
