"""`lesr ablate`: which part of the run's best candidate helped (the paper's ablations).

For the run's best candidate, every variant is trained on the same seeds (paired):

- full: F and G with the run's shaping;
- features_only: F as the observation, no intrinsic reward (w = 0);
- reward_only: the raw state as the observation, the run's shaping of G(F(s')) in the reward (F computed
  only for G);
- potential: F and G with potential-based shaping;
- additive: F and G with the paper's additive shaping (not in the default list: it lets a run made with
  potential shaping, the quick preset's default, be compared with additive in one ablation);
- raw: the raw state, no G (what the other variants are compared against).

Every training is asked for through `trainings.service.Trainings`, so the candidate's code runs only in
sandboxed workers and identical trainings are reused: `full` and `raw` on the final evaluation's
seeds and steps are the final evaluation's own trainings, two variants with identical settings
(`full` and `potential` in a run that already uses potential shaping) are trained once, and a rerun
trains only what is missing (an interrupted training continues from its checkpoint).

Every difference is built from paired seeds only (`experiments.statistics.compare`): a variant and raw
over the seeds where both finished, its relative figure against the raw mean of those same seeds, and
an interval only from two pairs on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesr_local import events as ev
from lesr_local.config import RunConfig
from lesr_local.envs.catalogue import get_env_info
from lesr_local.errors import BadInput, Interrupted
from lesr_local.experiments.budgets import followup_budget
from lesr_local.experiments.statistics import SeedResult, compare, curve_auc, iqm, sample_std, verdict_label
from lesr_local.store import CANDIDATE_FAILURE, RAW_ARM, Store, TrainingRecord
from lesr_local.trainings.executors import Executor
from lesr_local.trainings.keys import training_key
from lesr_local.trainings.requests import dim_names, spec_for
from lesr_local.trainings.service import TrainingRequest, Trainings

VARIANTS = ("full", "features_only", "reward_only", "additive", "potential", "raw")  # report order
DEFAULT_VARIANTS = ("full", "features_only", "reward_only", "potential", "raw")  # the paper's set


@dataclass(frozen=True)
class VariantSettings:
    """What one variant changes in the training."""

    uses_code: bool
    weight: float
    shaping: str
    observation: str  # "features" | "raw"


def variant_settings(variant: str, config: RunConfig) -> VariantSettings:
    w, shaping = config.intrinsic_weight, config.shaping
    table = {
        "full": VariantSettings(True, w, shaping, "features"),
        "features_only": VariantSettings(True, 0.0, shaping, "features"),
        "reward_only": VariantSettings(True, w, shaping, "raw"),
        "additive": VariantSettings(True, w, "additive", "features"),
        "potential": VariantSettings(True, w, "potential", "features"),
        "raw": VariantSettings(False, 0.0, shaping, "features"),
    }
    return table[variant]


def parse_variants(text: str | None) -> list[str]:
    """--variants a,b,c in the canonical order; raw is always added (every difference is against it)."""
    if text is None:
        return list(DEFAULT_VARIANTS)
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        raise BadInput(f"unknown variant(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(VARIANTS)}")
    wanted = set(names) | {"raw"}
    return [v for v in VARIANTS if v in wanted]


@dataclass
class AblationPlan:
    run_id: str
    candidate_id: str
    code: str
    extra_dims: int | None
    config: RunConfig
    variants: list[str]
    seeds: list[int]
    steps: int
    run_dir: Path

    @property
    def group_id(self) -> str:
        return f"{self.candidate_id}-n{self.steps}"


def plan_ablation(store: Store, run_id: str, variants: list[str], seeds: int | None, steps: int | None) -> AblationPlan:
    run = store.get_run(run_id)
    config = RunConfig.from_dict(run.config)
    best = store.find_candidate(run_id, run.best_candidate_id) if run.best_candidate_id else None
    if best is None or not best.code:
        raise BadInput(f"run {run_id} has no best candidate to ablate (status {run.status})")
    seed_list, budget = followup_budget(config, seeds, steps)
    return AblationPlan(run_id, best.candidate_id, best.code, best.extra_dims, config, variants, seed_list, budget,
                        store.ensure_run_dir(run_id))


def variant_request(plan: AblationPlan, variant: str, seed: int) -> TrainingRequest:
    settings = variant_settings(variant, plan.config)
    code = plan.code if settings.uses_code else None
    spec = spec_for(plan.config, code=code, seed=seed, steps=plan.steps, shaping=settings.shaping,
                    intrinsic_weight=settings.weight, observation=settings.observation)
    env = get_env_info(plan.config.env_id, plan.config.env_spec)
    observed = code if settings.observation == "features" else None
    return TrainingRequest(f"ablate-{plan.group_id}-{variant}-s{seed}", "ablation", variant, spec,
                           candidate_id=plan.candidate_id if code else None, group_id=plan.group_id,
                           dim_names=dim_names(env, observed, plan.extra_dims or 0 if observed else 0))


# -- running -------------------------------------------------------------------------------------

Notify = Callable[[str], None]


def run_ablation(store: Store, plan: AblationPlan, executor: Executor, cancel: threading.Event,
                 notify: Notify | None = None, reuse: bool = True) -> None:
    """Ask for every (variant, seed) of the plan; results go to the store as they end."""
    say = notify or (lambda _line: None)
    trainings = Trainings(store, plan.run_id, executor, _Narrator(say), cancel, reuse=reuse)
    requests = [variant_request(plan, variant, seed) for variant in plan.variants for seed in plan.seeds]
    # Identical settings (full and potential in a potential run) train once: the first of each key
    # now, the others afterwards, when the first is finished and can be reused.
    first: dict[str, TrainingRequest] = {}
    later: list[TrainingRequest] = []
    for request in requests:
        key = training_key(request.spec)[0]
        if key in first:
            later.append(request)
        else:
            first[key] = request
    for wave in (list(first.values()), later):  # the second wave is reused (trained again with --no-reuse)
        trainings.wait([trainings.ask(r) for r in wave])
        if cancel.is_set():
            raise Interrupted(f"ablation interrupted; run `lesr ablate {plan.run_id}` again to continue")


class _Narrator:
    """Events of the ablation's trainings as one line each (what `lesr ablate` prints on stderr)."""

    def __init__(self, say: Notify) -> None:
        self.say = say

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.TrainingFinished):
            what = f"score {event.score:.2f}" if event.status == "finished" and event.score is not None \
                else f"failed: {event.reason}"
            self.say(f"{event.training_id}: {what}")
        elif isinstance(event, ev.TrainingReused):
            self.say(ev.reuse_text(event))


# -- reporting -----------------------------------------------------------------------------------


def ablation_report(records: list[TrainingRecord]) -> list[dict[str, Any]]:
    """One entry per ablation set (candidate, steps): variants with per-seed results and the paired
    difference of each variant from raw over the seeds both finished."""
    sets: dict[str, list[TrainingRecord]] = {}
    for r in records:
        if r.purpose == "ablation" and r.group_id:
            sets.setdefault(r.group_id, []).append(r)
    return [_one_set(rows) for rows in sets.values()]


def _one_set(rows: list[TrainingRecord]) -> dict[str, Any]:
    by_variant: dict[str, list[TrainingRecord]] = {}
    for r in rows:
        by_variant.setdefault(r.arm, []).append(r)
    candidate_id = next((r.candidate_id for r in rows if r.candidate_id), None)
    variants = []
    for name in [v for v in VARIANTS if v in by_variant]:
        runs = sorted(by_variant[name], key=lambda r: r.seed)
        scores = [r.score for r in runs if r.status == "finished" and r.score is not None]
        variants.append({
            "variant": name, "shaping": next((r.shaping for r in runs), None),
            "per_seed": [{"seed": r.seed, "status": r.status, "score": r.score, "auc": curve_auc(r.curve),
                          "reason": r.reason, "reused_from": _reused_from(r)} for r in runs],
            "mean": float(np.mean(scores)) if scores else None, "std": sample_std(scores),
            "iqm": iqm(scores), "finished": len(scores),
        })
    raw = _results(by_variant.get(RAW_ARM, []))
    differences = []
    for name in [v["variant"] for v in variants if v["variant"] != RAW_ARM]:
        mine = by_variant[name]
        failed = {r.seed: r.reason or "failed" for r in mine if r.status == "failed" and r.failure == CANDIDATE_FAILURE}
        comparison = compare(_results(mine), raw, None, failed)
        diff = comparison.improvement if len(comparison.paired_seeds) >= 1 else None
        differences.append({
            "variant": name, "seeds": comparison.paired_seeds, "mean_difference": diff,
            "ci95": comparison.improvement_ci95, "ci95_t": comparison.improvement_ci95_t,
            # relative to the raw mean of the same paired seeds, only from two pairs and where that
            # mean is clearly away from 0 (statistics.relative_improvement)
            "relative": comparison.improvement_relative if len(comparison.paired_seeds) >= 2 else None,
            "verdict": comparison.verdict, "candidate_failed_seeds": comparison.candidate_failed_seeds,
        })
    steps = rows[0].total_steps
    return {"candidate_id": candidate_id, "steps": steps, "seeds": sorted({r.seed for r in rows}),
            "group_id": rows[0].group_id, "variants": variants, "differences_from_raw": differences}


def _results(rows: list[TrainingRecord]) -> dict[int, SeedResult]:
    return {r.seed: SeedResult(r.seed, float(r.score), curve_auc(r.curve)) for r in rows
            if r.status == "finished" and r.score is not None}


def _reused_from(r: TrainingRecord) -> str | None:
    return f"{r.reused_from_run}/{r.reused_from_training}" if r.reused_from_training else None


def difference_text(difference: dict[str, Any]) -> tuple[str, str]:
    """`+12.30 [+1.00, +20.00] t [-5.00, +30.00]` for one variant's difference from raw, and its
    direction under the final evaluation's rule (both intervals must exclude 0)."""
    mean, boot, t = difference["mean_difference"], difference["ci95"], difference.get("ci95_t")
    if mean is None:
        return "-", difference.get("verdict") or "no detectable difference"
    text = f"{mean:+.2f}"
    if boot is not None:
        text += f" [{boot[0]:+.2f}, {boot[1]:+.2f}]"
    if t is not None:
        text += f" t [{t[0]:+.2f}, {t[1]:+.2f}]"
    return text, difference.get("verdict") or verdict_label(boot, t)
