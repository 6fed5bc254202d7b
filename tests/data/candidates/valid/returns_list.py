# env: HalfCheetah-v5
import math


def revise_state(s):
    values = [float(v) for v in s]
    values.append(math.hypot(values[8], values[9]))
    return values


def intrinsic_reward(updated_s):
    return min(10.0, max(-10.0, updated_s[-1]))
