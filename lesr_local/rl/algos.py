"""Which RL algorithm a training uses (torch-free: commands and the engine import it cheaply).

`td3` is our own TD3 (rl/td3.py), the one the search uses. `sac` and `ppo` are stable-baselines3's,
for transfer (paper §4.5); `sb3-td3` is SB3's TD3, only for `lesr bench td3 --compare sb3`. The
library algorithms take their settings from the preset's TD3Config where one exists (hidden sizes,
learning rate, batch size, warm-up, tau, gamma) and SB3's defaults otherwise.
"""

from __future__ import annotations

from lesr_local.errors import BadInput

OWN_TD3 = "td3"
SB3_TD3 = "sb3-td3"
USER_ALGOS = ("td3", "sac", "ppo")  # what `lesr train --algo` accepts
TRANSFER_ALGOS = ("sac", "ppo")
ALL_ALGOS = (*USER_ALGOS, SB3_TD3)
CONTINUOUS_ONLY = ("td3", "sac", SB3_TD3)
PPO_MAX_ROLLOUT = 2048  # SB3's default n_steps
PPO_BATCH = 64  # SB3's default minibatch


def check_algo(algo: str, allowed: tuple[str, ...] = USER_ALGOS) -> str:
    if algo not in allowed:
        raise BadInput(f"unknown algo {algo!r}; choose one of: {', '.join(allowed)}")
    return algo


def ppo_rollout_steps(total_steps: int) -> int:
    """PPO's rollout length: SB3's 2048, shortened for short trainings so they still get at least
    eight policy updates (a multiple of the minibatch, at least one minibatch)."""
    if total_steps >= 8 * PPO_MAX_ROLLOUT:
        return PPO_MAX_ROLLOUT
    return max(PPO_BATCH, (total_steps // 8) // PPO_BATCH * PPO_BATCH)

