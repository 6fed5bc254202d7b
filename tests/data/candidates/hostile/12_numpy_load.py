# expect: `np.load` is not an allowed numpy function
# layer: policy
import numpy as np


def revise_state(s):
    weights = np.load("/etc/weights.npy", allow_pickle=True)
    return np.concatenate([s, [weights.sum()]])


def intrinsic_reward(updated_s):
    return 0.0
