# expect: intrinsic_reward returned a non-finite value
# layer: sandbox
import numpy as np


def revise_state(s):
    return np.concatenate([s, [np.abs(s).sum()]])


def intrinsic_reward(updated_s):
    return float(np.exp(1000.0 + updated_s[-1]))
