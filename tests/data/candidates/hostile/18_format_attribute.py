# expect: attribute or method `.format` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    leak = "{0.__class__.__init__.__globals__}".format(s)
    return np.concatenate([s, [len(leak)]])


def intrinsic_reward(updated_s):
    return 0.0
