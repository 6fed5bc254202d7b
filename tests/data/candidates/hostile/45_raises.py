# expect: revise_state raised IndexError
# layer: sandbox
import numpy as np


def revise_state(s):
    return np.concatenate([s, [s[500]]])


def intrinsic_reward(updated_s):
    return 0.0
