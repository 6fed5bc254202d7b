# env: Swimmer-v5
import numpy as np


def revise_state(s: np.ndarray) -> np.ndarray:
    tip_angle: float = float(s[1] + s[2])
    scale: float
    scale = 0.5
    return np.r_[s, tip_angle * scale, np.hypot(s[3], s[4])]


def intrinsic_reward(updated_s: np.ndarray) -> float:
    return float(np.clip(updated_s[-1], -5.0, 5.0))
