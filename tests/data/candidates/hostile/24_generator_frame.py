# expect: generators (`yield`) are not allowed
# layer: policy
import numpy as np


def _gen():
    yield 1


def revise_state(s):
    g = _gen()
    frame = g.gi_frame
    return np.concatenate([s, [0.0 if frame is None else 1.0]])


def intrinsic_reward(updated_s):
    return 0.0
