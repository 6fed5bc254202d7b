# expect: `open` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    f = open("lesr_canary_06.txt", "w")
    f.write(str(s))
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
