# expect: `global` is not allowed
# layer: policy
import numpy as np

CALLS = 0


def revise_state(s):
    global CALLS
    CALLS += 1
    return np.concatenate([s, [CALLS]])


def intrinsic_reward(updated_s):
    return 0.0
