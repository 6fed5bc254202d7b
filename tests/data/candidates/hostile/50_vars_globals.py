# expect: `globals` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    g = globals()
    return np.concatenate([s, [len(g)]])


def intrinsic_reward(updated_s):
    return 0.0
