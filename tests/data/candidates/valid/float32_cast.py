# env: HalfCheetah-v5
import numpy as np


def revise_state(s):
    s32 = np.asarray(s, dtype=np.float32)
    extra = np.array([s32[8] * s32[8], np.abs(s32[1])], dtype=np.float32)
    return np.concatenate([s32, extra])


def intrinsic_reward(updated_s):
    return float(np.sqrt(updated_s[17]) - updated_s[18])
