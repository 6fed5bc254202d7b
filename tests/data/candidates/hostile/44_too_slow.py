# expect: too slow
# layer: sandbox
import numpy as np


def revise_state(s):
    total = 0.0
    for i in range(20000):
        total += float(s[i % len(s)]) * 1e-9
    return np.concatenate([s, [total]])


def intrinsic_reward(updated_s):
    return 0.0
