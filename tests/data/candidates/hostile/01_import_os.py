# expect: `import os` is not allowed
# layer: policy
import numpy as np
import os


def revise_state(s):
    os.system("touch /tmp/lesr_canary_01")
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
