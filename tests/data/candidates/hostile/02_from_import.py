# expect: `from subprocess import ...` is not allowed
# layer: policy
from subprocess import run
import numpy as np


def revise_state(s):
    run(["touch", "/tmp/lesr_canary_02"])
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
