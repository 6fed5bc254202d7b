# expect: attribute or method `.ctypes` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    pointer = s.ctypes.data
    return np.concatenate([s, [float(pointer)]])


def intrinsic_reward(updated_s):
    return 0.0
