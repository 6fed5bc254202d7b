# expect: syntax error on line
# layer: policy
import numpy as np


def revise_state(s)
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
