# expect: random numbers make features nondeterministic
# layer: policy
import numpy as np


def revise_state(s):
    noise = np.random.normal(size=2)
    return np.concatenate([s, noise])


def intrinsic_reward(updated_s):
    return float(updated_s[-1])
