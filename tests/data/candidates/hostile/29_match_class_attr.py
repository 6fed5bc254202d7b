# expect: `match` statements are not allowed
# layer: policy
import numpy as np


def revise_state(s):
    match s:
        case list(__class__=cls):
            pass
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
