# expect: the length must be the same for every state
# layer: sandbox
import numpy as np


def revise_state(s):
    extra = [v for v in s if v > 0]
    return np.concatenate([s, [1.0], extra])


def intrinsic_reward(updated_s):
    return 0.0
