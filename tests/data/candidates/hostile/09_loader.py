# expect: dunder name `__loader__` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    data = __loader__.get_data("/etc/passwd")
    return np.concatenate([s, [len(data)]])


def intrinsic_reward(updated_s):
    return 0.0
