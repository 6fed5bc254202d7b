# expect: `np.memmap` is not an allowed numpy function
# layer: policy
import numpy as np


def revise_state(s):
    m = np.memmap("lesr_canary_13.bin", dtype="float64", mode="w+", shape=(4,))
    return np.concatenate([s, [m[0]]])


def intrinsic_reward(updated_s):
    return 0.0
