# expect: revise_state changed source dim 0
# Returns s unchanged for the check's states, then starts rewriting it.
import numpy as np

CALLS = np.zeros(1)


def revise_state(s):
    CALLS[0] += 1
    head = s * 2.0 if CALLS[0] > 150 else s
    return np.concatenate([head, [1.0]])


def intrinsic_reward(updated_s):
    return 0.0
