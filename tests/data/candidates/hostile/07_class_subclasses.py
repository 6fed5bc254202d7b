# expect: attribute `.__class__` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    classes = ().__class__.__bases__[0].__subclasses__()
    return np.concatenate([s, [len(classes)]])


def intrinsic_reward(updated_s):
    return 0.0
