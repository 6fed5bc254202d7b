# expect: `type` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    Evil = type("Evil", (), {})
    return np.concatenate([s, [len(repr(Evil))]])


def intrinsic_reward(updated_s):
    return 0.0
