"""What trainings after a run (`lesr ablate`, `lesr transfer`) train on: the final evaluation's seeds,
and the budget rules they share with a run (config.check_seeds, config.check_past_warmup).

A follow-up training must go past its warm-up, so that its last evaluation (the last step is always
evaluated) comes after it: TD3 and SAC act randomly for the run's `td3.start_steps` (kept as the run
had it, so the figures stay comparable with the run's); PPO has no random warm-up, but its first
policy update comes only after its first rollout (`rl.algos.ppo_rollout_steps`).
"""

from __future__ import annotations

from lesr_local.config import RunConfig, check_past_warmup, check_seeds
from lesr_local.errors import BadInput
from lesr_local.rl.algos import ppo_rollout_steps


def followup_budget(config: RunConfig, seeds: int | None, steps: int | None,
                    algo: str = "td3") -> tuple[list[int], int]:
    """The final evaluation's fresh seeds (`seed+1 ... seed+S`, not the search seed, which selected the
    best) and the steps per training; `--seeds` / `--steps` override S and N. BadInput (one line)
    below 1 seed or step, for steps not past `algo`'s warm-up, or for a seed outside [0, 2**32-1]."""
    count = config.seeds if seeds is None else seeds
    length = config.final_steps if steps is None else steps
    if count < 1:
        raise BadInput(f"--seeds must be at least 1, got {count}")
    if length < 1:
        raise BadInput(f"--steps must be at least 1, got {length}")
    if algo == "ppo":
        check_past_warmup(length, ppo_rollout_steps(length), "--steps", "PPO's first rollout",
                          "raise --steps", kind="no policy update before it")
    else:
        check_past_warmup(length, config.td3.start_steps, "--steps", "the run's td3.start_steps",
                          "raise --steps")
    check_seeds(config.seed, config.seed + count, "the run's seed")
    return [config.seed + 1 + i for i in range(count)], length
