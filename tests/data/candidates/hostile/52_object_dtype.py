# expect: must return a flat array of numbers
# layer: sandbox
# An object array smuggles functions through numpy; the result is not numbers and is refused.
import numpy as np


def revise_state(s):
    holder = np.array([np.sum, np.mean], dtype="O")
    return np.concatenate([s, holder])


def intrinsic_reward(updated_s):
    return 0.0
