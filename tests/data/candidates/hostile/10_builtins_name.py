# expect: dunder name `__builtins__` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    __builtins__["open"]("lesr_canary_10", "w").write("x")
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
