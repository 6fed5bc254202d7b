# expect: `import numpy.ctypeslib as np` is not allowed
# layer: policy
import numpy.ctypeslib as np


def revise_state(s):
    return s


def intrinsic_reward(updated_s):
    return 0.0
