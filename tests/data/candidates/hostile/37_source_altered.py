# expect: must be s itself, unchanged
# layer: sandbox
import numpy as np


def revise_state(s):
    scaled = s / (np.abs(s).max() + 1e-6)
    return np.concatenate([scaled, [np.linalg.norm(s)]])


def intrinsic_reward(updated_s):
    return 0.0
