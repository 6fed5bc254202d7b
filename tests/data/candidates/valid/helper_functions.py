# env: HalfCheetah-v5
import numpy as np


def _energy(velocities):
    return float(np.sum(np.square(velocities)))


def _safe_ratio(a, b):
    return a / (abs(b) + 1e-6)


def revise_state(s):
    kinetic = _energy(s[9:17])
    efficiency = _safe_ratio(s[8], kinetic + 1.0)
    return np.append(s, [kinetic, efficiency])


def intrinsic_reward(updated_s):
    return float(np.clip(updated_s[-1], -10.0, 10.0))
