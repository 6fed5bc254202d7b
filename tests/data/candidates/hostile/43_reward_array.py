# expect: intrinsic_reward must return one number
# layer: sandbox
import numpy as np


def revise_state(s):
    return np.concatenate([s, [1.0, 2.0]])


def intrinsic_reward(updated_s):
    return updated_s[-2:]
