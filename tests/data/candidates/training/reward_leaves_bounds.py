# expect: outside [-100, 100]
# In bounds on every state the 64-state check sees; past a few hundred calls it is not.
import numpy as np

CALLS = np.zeros(1)


def revise_state(s):
    return np.concatenate([s, [float(np.sum(s))]])


def intrinsic_reward(updated_s):
    CALLS[0] += 1
    return float(np.clip(CALLS[0] - 300.0, 0.0, 1000.0))
