# env: HalfCheetah-v5
import numpy as np


def revise_state(s):
    features = []
    for i in range(2, 8):
        features.append(np.sin(s[i]))
    features.append(sum(features) / len(features))
    return np.hstack([s, np.array(features)])


def intrinsic_reward(updated_s):
    extras = updated_s[17:]
    return float(-0.1 * np.std(extras))
