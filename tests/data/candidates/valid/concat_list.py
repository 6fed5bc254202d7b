# env: HalfCheetah-v5
import numpy as np


def revise_state(s):
    forward_speed = s[8]
    joint_speed = np.linalg.norm(s[11:17])
    return np.concatenate([s, [forward_speed, joint_speed]])


def intrinsic_reward(updated_s):
    return float(0.5 * np.tanh(updated_s[17]) - 0.01 * updated_s[18])
