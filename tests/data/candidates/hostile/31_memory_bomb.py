# expect: ran out of memory
# layer: sandbox
import numpy as np


def revise_state(s):
    blocks = []
    for _ in range(1000):
        blocks.append(np.zeros(50_000_000))
    return np.concatenate([s, [len(blocks)]])


def intrinsic_reward(updated_s):
    return 0.0
