# expect: revise_state changed source dim 0
# Counts its own calls and rewrites the source state only on calls a fixed sampling schedule
# (all of the first 200, then every 50th) would never look at.
import numpy as np

CALLS = np.zeros(1)


def revise_state(s):
    CALLS[0] += 1
    n = CALLS[0]
    head = s + 1.0 if n > 200 and n % 50 != 0 else s
    return np.concatenate([head, [1.0]])


def intrinsic_reward(updated_s):
    return 0.0
