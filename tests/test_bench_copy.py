"""The format example and the copy detector of `lesr bench llm --copy-rate`."""

from __future__ import annotations

from lesr_local.bench.llm_bench import example_copy
from lesr_local.candidates.prompts import example_code, initial_prompt
from lesr_local.envs.catalogue import get_env_info

MODULE = """import numpy as np
import math

def revise_state(s):
    f1 = {f1}
    f2 = {f2}
    return np.concatenate([s, np.array([f1, f2])])


def intrinsic_reward(updated_s):
    return float(np.clip({reward}, -10, 10))
"""


def test_copy_detector_on_the_concrete_example_and_on_own_code() -> None:
    cheetah = get_env_info("HalfCheetah-v5")  # D = 17
    concrete = example_code(cheetah, style="concrete")
    assert example_copy(concrete.strip("`python\n"), 17) == {"feature": True, "reward": True, "any": True}
    shifted = MODULE.format(f1="np.abs(s[4])", f2="s[4] * s[9]", reward="updated_s[17] - 0.3 * updated_s[18]")
    assert example_copy(shifted, 17) == {"feature": True, "reward": True, "any": True}
    own = MODULE.format(f1="np.tanh(s[8])", f2="s[8] - s[2]", reward="np.square(updated_s[18]) - 0.1 * updated_s[17]")
    assert example_copy(own, 17) == {"feature": False, "reward": False, "any": False}
    verbatim = MODULE.format(f1="np.abs(s[0])", f2="s[3]", reward="-updated_s[18]")
    assert example_copy(verbatim, 17)["feature"] and not example_copy(verbatim, 17)["reward"]


def test_prompt_example_is_placeholders_only() -> None:
    for env_id in ("HalfCheetah-v5", "Hopper-v5"):
        env = get_env_info(env_id)
        text = initial_prompt(env)
        assert "<a task-related feature computed from s>" in text
        assert "np.abs(s[0])" not in text and f"updated_s[{env.state_dim}] - 0.1" not in text
        assert "np.abs(s[0])" in initial_prompt(env, example="concrete")  # the bench's baseline arm
