"""What trainings after a run (`lesr ablate`, `lesr transfer`) train on: the final evaluation's seeds."""

from __future__ import annotations

from lesr_local.config import RunConfig
from lesr_local.errors import BadInput


def followup_budget(config: RunConfig, seeds: int | None, steps: int | None) -> tuple[list[int], int]:
    """The final evaluation's fresh seeds (`seed+1 ... seed+S`, not the search seed, which selected the
    best) and the steps per training; `--seeds` / `--steps` override S and N. BadInput below 1."""
    count = config.seeds if seeds is None else seeds
    length = config.final_steps if steps is None else steps
    if count < 1:
        raise BadInput(f"--seeds must be at least 1, got {count}")
    if length < 1:
        raise BadInput(f"--steps must be at least 1, got {length}")
    return [config.seed + 1 + i for i in range(count)], length
