# expect: `getattr` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    saver = getattr(np, "sa" + "ve")
    saver("lesr_canary_23.npy", s)
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
