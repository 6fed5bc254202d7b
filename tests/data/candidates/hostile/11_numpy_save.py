# expect: `np.save` is not an allowed numpy function
# layer: policy
import numpy as np


def revise_state(s):
    np.save("lesr_canary_11.npy", s)
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
