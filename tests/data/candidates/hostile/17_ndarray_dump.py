# expect: attribute or method `.dump` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    s.dump("lesr_canary_17.pkl")
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
