"""The trainings a run asks for, built from its config: names, seeds and specs in one place.

Names: a search training carries its candidate's id ("i0-k1"); "control" is the search's raw-state
control; "select-<candidate>-s<seed>" / "select-raw-s<seed>" the re-evaluation; "final-best-s<seed>" /
"final-raw-s<seed>" the final evaluation. Seeds: the search and its control use `config.seed`; the
final evaluation uses the fresh seeds seed+1 .. seed+S (the search seed selected the best, re-using it
would carry that luck); the re-evaluation uses seeds after those, so none of its luck carries into
the final evaluation either.
"""

from __future__ import annotations

import re

from lesr_local.config import SELECTION_SEED_OFFSET, RunConfig
from lesr_local.envs.info import EnvInfo
from lesr_local.rl.spec import TrainSpec
from lesr_local.store import CANDIDATE_ARM, RAW_ARM
from lesr_local.trainings.service import TrainingRequest

CONTROL_ID = "control"


def spec_for(config: RunConfig, *, code: str | None, seed: int, steps: int, shaping: str | None = None,
             intrinsic_weight: float | None = None, observation: str = "features", algo: str = "td3",
             device: str = "auto") -> TrainSpec:
    """A TrainSpec with the run's settings; the keyword arguments are what a variant changes."""
    return TrainSpec(
        env_id=config.env_id, steps=steps, seed=seed, candidate_source=code,
        intrinsic_weight=config.intrinsic_weight if intrinsic_weight is None else intrinsic_weight,
        shaping=shaping or config.shaping, observation=observation, learner=config.td3, eval=config.eval,
        threads=config.train_threads, env_spec=config.env_spec, algo=algo, device=device,
        runtime_checks=True, unsafe_no_seccomp=config.unsafe_no_seccomp,  # a machine decision: not in the key
    )


def final_seeds(config: RunConfig, count: int | None = None) -> list[int]:
    return [config.seed + 1 + j for j in range(config.seeds if count is None else count)]


def selection_seeds(config: RunConfig) -> list[int]:
    return [config.seed + SELECTION_SEED_OFFSET + j for j in range(config.select_seeds)]


def control_request(config: RunConfig, env: EnvInfo) -> TrainingRequest:
    return TrainingRequest(CONTROL_ID, "control", RAW_ARM, spec_for(config, code=None, seed=config.seed,
                                                                     steps=config.steps),
                           dim_names=dim_names(env, None, 0))


def search_request(config: RunConfig, env: EnvInfo, candidate_id: str, code: str, extra_dims: int | None,
                   pauses: tuple[int, ...]) -> TrainingRequest:
    return TrainingRequest(candidate_id, "search", CANDIDATE_ARM,
                           spec_for(config, code=code, seed=config.seed, steps=config.steps),
                           candidate_id=candidate_id, dim_names=dim_names(env, code, extra_dims or 0),
                           pauses=pauses)


def arm_request(config: RunConfig, env: EnvInfo, purpose: str, seed: int, steps: int, candidate_id: str | None,
                code: str | None, extra_dims: int | None = None) -> TrainingRequest:
    """One arm of a paired comparison (re-evaluation or final evaluation): the candidate or the raw state."""
    prefix = {"selection": "select", "final": "final"}[purpose]
    if code is None:
        return TrainingRequest(f"{prefix}-raw-s{seed}", purpose, RAW_ARM,
                               spec_for(config, code=None, seed=seed, steps=steps), dim_names=dim_names(env, None, 0))
    name = "best" if purpose == "final" else candidate_id
    return TrainingRequest(f"{prefix}-{name}-s{seed}", purpose, CANDIDATE_ARM,
                           spec_for(config, code=code, seed=seed, steps=steps), candidate_id=candidate_id,
                           dim_names=dim_names(env, code, extra_dims or 0))


_FEATURE_LINE = re.compile(r"^\s*f(\d+)\s*=\s*(.+?)\s*$")


def dim_names(env: EnvInfo, code: str | None, extra: int) -> list[str]:
    """One name per dim of F(s): the env's descriptions, then `f1 = <expression>` for the extra dims
    when the code assigns f1..fk, else generic names."""
    found: dict[int, str] = {}
    for line in (code or "").splitlines():
        match = _FEATURE_LINE.match(line)
        if match and int(match.group(1)) not in found:
            found[int(match.group(1))] = f"f{match.group(1)} = {match.group(2)}"
    return [d.description for d in env.dims] + [found.get(j + 1, f"extra feature {j}") for j in range(extra)]
