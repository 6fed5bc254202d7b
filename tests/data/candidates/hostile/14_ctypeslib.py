# expect: `np.ctypeslib.load_library` is not an allowed numpy function
# layer: policy
import numpy as np


def revise_state(s):
    libc = np.ctypeslib.load_library("libc", "/lib/x86_64-linux-gnu")
    libc.system(b"touch /tmp/lesr_canary_14")
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
