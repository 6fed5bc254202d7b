# expect: `np.savetxt` is not an allowed numpy function
# layer: policy
import numpy as np


def revise_state(s):
    np.savetxt("lesr_canary_27.txt", s)
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
