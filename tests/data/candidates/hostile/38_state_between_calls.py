# expect: not deterministic
# layer: sandbox
import numpy as np


def revise_state(s, memory=[]):
    memory.append(float(s[0]))
    return np.concatenate([s, [sum(memory)]])


def intrinsic_reward(updated_s):
    return float(np.tanh(updated_s[-1]))
