# expect: modified its input state in place
# layer: sandbox
import numpy as np


def revise_state(s):
    s[0] = 0.0
    return np.concatenate([s, [1.0]])


def intrinsic_reward(updated_s):
    return 0.0
