# env: HalfCheetah-v5
import numpy as np


def revise_state(s):
    angles = s[1:8]
    velocities = s[8:17]
    extra = np.concatenate([np.cos(angles), np.sin(angles), [np.dot(velocities, velocities)]])
    return np.concatenate([s, extra])


def intrinsic_reward(updated_s):
    new = updated_s[17:]
    return float(np.clip(0.01 * new[-1] + np.mean(new[:7]), -100.0, 100.0))
