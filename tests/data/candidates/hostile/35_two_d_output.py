# expect: must return a 1-D array
# layer: sandbox
import numpy as np


def revise_state(s):
    return np.stack([s, s * 2.0])


def intrinsic_reward(updated_s):
    return 0.0
