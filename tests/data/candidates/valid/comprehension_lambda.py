# env: HalfCheetah-v5
import numpy as np

squash = lambda x: x / (1.0 + abs(x))  # noqa: E731


def revise_state(s):
    extra = np.array([squash(v) for v in s[8:11]], dtype=np.float64)
    return np.concatenate([s, extra])


def intrinsic_reward(updated_s):
    return float(updated_s[17] - 0.1 * abs(updated_s[18]))
