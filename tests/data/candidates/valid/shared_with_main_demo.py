# env: Walker2d-v5
"""Features for Walker2d, as shared alongside a LESR result (with a demo block)."""
import numpy as np


def revise_state(s):
    torso_height, torso_angle = s[0], s[1]
    leg_symmetry = (s[2] - s[5]) ** 2 + (s[3] - s[6]) ** 2
    return np.concatenate([s, [torso_height * np.cos(torso_angle), leg_symmetry]])


def intrinsic_reward(updated_s):
    return float(0.5 * updated_s[17] - 0.05 * updated_s[18])


if __name__ == "__main__":
    state = np.zeros(17)
    print(intrinsic_reward(revise_state(state)))
