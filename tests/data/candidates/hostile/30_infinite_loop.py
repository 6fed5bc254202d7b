# expect: (an infinite loop?)
# layer: sandbox
import numpy as np


def revise_state(s):
    x = 0
    while True:
        x += 1
    return np.concatenate([s, [x]])


def intrinsic_reward(updated_s):
    return 0.0
