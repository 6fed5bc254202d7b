# expect: at least one extra dim
# layer: sandbox
import numpy as np


def revise_state(s):
    return s.copy()


def intrinsic_reward(updated_s):
    return 0.0
