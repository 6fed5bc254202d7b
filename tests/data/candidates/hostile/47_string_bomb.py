# expect: ran out of memory
# layer: sandbox
import numpy as np


def revise_state(s):
    text = "x" * (8 * 1024 ** 3)
    return np.concatenate([s, [len(text)]])


def intrinsic_reward(updated_s):
    return 0.0
