# expect: non-finite value (NaN or inf)
# layer: sandbox
import numpy as np


def revise_state(s):
    ratio = (s[0] - s[0]) / (s[1] - s[1])
    return np.concatenate([s, [ratio]])


def intrinsic_reward(updated_s):
    return 0.0
