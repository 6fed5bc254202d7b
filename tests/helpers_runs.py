"""Helpers for tests that build stored runs by hand: a small valid candidate module."""

from __future__ import annotations

# Valid for the 4-dim InvertedPendulum-v5 state: one extra feature, a reward on it.
PENDULUM_CANDIDATE = """import numpy as np
import math

def revise_state(s):
    f1 = s[1] * s[3]
    return np.concatenate([s, np.array([f1])])

def intrinsic_reward(updated_s):
    return float(-abs(updated_s[4]))
"""
