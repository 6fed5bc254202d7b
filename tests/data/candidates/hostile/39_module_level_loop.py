# expect: while loading the module
# layer: sandbox
import numpy as np

TABLE = []
while True:
    TABLE.append(0)


def revise_state(s):
    return np.concatenate([s, [0.0]])


def intrinsic_reward(updated_s):
    return 0.0
