# expect: missing function `def intrinsic_reward(updated_s):`
# layer: policy
import numpy as np


def revise_state(s):
    return np.concatenate([s, [np.sum(s)]])
