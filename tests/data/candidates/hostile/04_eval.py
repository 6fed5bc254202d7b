# expect: `eval` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    x = eval("__import__('os').getcwd()")
    return np.concatenate([s, [len(x)]])


def intrinsic_reward(updated_s):
    return 0.0
