# expect: revise_state must return a numpy array, got float
# layer: sandbox
import numpy as np


def revise_state(s):
    return float(np.sum(s))


def intrinsic_reward(updated_s):
    return 0.0
