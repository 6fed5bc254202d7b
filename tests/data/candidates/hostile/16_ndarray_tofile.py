# expect: attribute or method `.tofile` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    s.tofile("lesr_canary_16.bin")
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
