# expect: [/] [bold]
# Passes the check's states, then fails mid-training with an error whose text is markup.
import numpy as np

CALLS = np.zeros(1)


def revise_state(s):
    CALLS[0] += 1
    if CALLS[0] > 150:
        raise ValueError("[/] [bold]")
    return np.concatenate([s, [1.0]])


def intrinsic_reward(updated_s):
    return 0.0
