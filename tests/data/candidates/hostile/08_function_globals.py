# expect: attribute `.__globals__` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    builtins = intrinsic_reward.__globals__["__builtins__"]
    builtins["open"]("lesr_canary_08", "w")
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
