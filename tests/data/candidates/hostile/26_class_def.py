# expect: class definitions are not allowed
# layer: policy
import numpy as np


class Escape:
    def __init_subclass__(cls):
        pass


def revise_state(s):
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
