# expect: dunder name `__import__` is not allowed
# layer: policy
# The AST policy stops this; without it, the restricted import would hand back the numpy proxy,
# never numpy._core.multiarray (tests/test_candidates_sandbox.py checks that second wall).
import numpy as np

CORE = __import__("numpy._core.multiarray", fromlist=["fromfile"])


def revise_state(s):
    return np.concatenate([s, [1.0]])


def intrinsic_reward(updated_s):
    return 0.0
