# expect: `exec` is not allowed
# layer: policy
import numpy as np


def revise_state(s):
    exec("open('/tmp/lesr_canary_05', 'w').write('x')")
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
