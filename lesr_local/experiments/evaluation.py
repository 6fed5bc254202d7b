"""The final evaluation: a candidate's F/G and the raw state trained on the same fresh seeds, compared
paired by seed. A run's last stage, `lesr run --resume RUN --seeds S` (more seeds for a finished run)
and `lesr evaluate` (any representation, no search) all go through `evaluate_arms`, so the trainings
are asked for, reused and compared the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from lesr_local.config import RunConfig
from lesr_local.envs.info import EnvInfo
from lesr_local.experiments.statistics import Comparison, SeedResult, compare, curve_auc
from lesr_local.store import CANDIDATE_ARM, CANDIDATE_FAILURE, TrainingRecord
from lesr_local.trainings.requests import arm_request, final_seeds
from lesr_local.trainings.service import TrainingJob, Trainings


@dataclass(frozen=True)
class Contender:
    """The representation under evaluation: a stored candidate's id, code and extra dims."""

    candidate_id: str
    code: str
    extra_dims: int | None


def evaluate_arms(trainings: Trainings, config: RunConfig, env: EnvInfo, contender: Contender,
                  seeds: int | None = None) -> list[TrainingJob]:
    """Ask for both arms on every final seed (finished ones are found, not trained again) and wait."""
    jobs = []
    for seed in final_seeds(config, seeds):
        for code in (contender.code, None):
            request = arm_request(config, env, "final", seed, config.final_steps, contender.candidate_id,
                                  code, contender.extra_dims)
            jobs.append(trainings.ask(request))
    trainings.wait(jobs)
    return jobs


def final_comparison(records: list[TrainingRecord]) -> Comparison | None:
    """The paired comparison of the final evaluation's trainings; None before any of them ended."""
    arms: dict[str, dict[int, SeedResult]] = {"best": {}, "raw": {}}
    missing: dict[int, dict[str, str]] = {}
    candidate_failed: dict[int, str] = {}
    ended = False
    for t in records:
        if t.purpose != "final":
            continue
        arm = "best" if t.arm == CANDIDATE_ARM else "raw"
        if t.status == "finished" and t.score is not None:
            arms[arm][t.seed] = SeedResult(seed=t.seed, score=float(t.score), auc=curve_auc(t.curve or []))
            ended = True
        elif t.status == "failed" and arm == "best" and t.failure == CANDIDATE_FAILURE:
            candidate_failed[t.seed] = t.reason or "failed"
            ended = True
        elif t.status == "failed":
            missing.setdefault(t.seed, {})["baseline" if arm == "raw" else arm] = t.reason or "failed"
            ended = True
    if not ended:
        return None
    return compare(arms["best"], arms["raw"], missing, candidate_failed)
