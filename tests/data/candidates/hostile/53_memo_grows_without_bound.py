# expect: ran out of memory
# layer: sandbox
# (MemoryError inside revise_state, or the address-space limit hit while the module grows it.)
# A module-level memo that keeps a large copy of every state it sees.
import numpy as np

MEMO = []


def revise_state(s):
    MEMO.append(np.zeros(50_000_000))  # 400 MB of address space per call
    return np.concatenate([s, [float(len(MEMO))]])


def intrinsic_reward(updated_s):
    return 0.0
