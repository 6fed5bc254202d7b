# expect: outside [-100, 100]
# layer: sandbox
import numpy as np


def revise_state(s):
    return np.concatenate([s, [np.sum(s ** 2)]])


def intrinsic_reward(updated_s):
    return 1e6 + float(updated_s[-1])
