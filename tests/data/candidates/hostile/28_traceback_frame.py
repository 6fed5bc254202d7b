# expect: attribute `.__traceback__` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    try:
        raise ValueError("x")
    except ValueError as err:
        frame = err.__traceback__.tb_frame
    return np.concatenate([s, [0.0 if frame is None else 1.0]])


def intrinsic_reward(updated_s):
    return 0.0
