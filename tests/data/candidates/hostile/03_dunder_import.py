# expect: dunder name `__import__` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    __import__("os").system("touch /tmp/lesr_canary_03")
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
