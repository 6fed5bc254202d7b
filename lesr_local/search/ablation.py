"""`lesr ablate`: which part of the run's best candidate helped (the paper's ablations).

For the best search candidate of a run, every variant is trained on the same seeds (paired):

- full: F and G with the run's shaping;
- features_only: F as the observation, no intrinsic reward (w = 0);
- reward_only: the raw state as the observation, the run's shaping of G(F(s')) in the reward (F computed
  only for G);
- potential: F and G with potential-based shaping;
- additive: F and G with the paper's additive shaping (not in the default list: it lets a run made with
  potential shaping, the quick preset's default, be compared with additive in one ablation);
- raw: the raw state, no G (what the other variants are compared against).

Trainings go through the executor seam (`search.executors`), so the candidate's code runs only in
sandboxed training workers. Each (variant, seed) row is written to the store the moment it ends; a
finished row is never trained again, an interrupted one continues from its checkpoint. Two variants
whose training settings are identical (full and potential in a run that already uses potential
shaping, full and additive in an additive run) are trained once and both rows get the result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesr_local.config import RunConfig
from lesr_local.errors import BadInput, Interrupted
from lesr_local.rl.spec import TrainSpec
from lesr_local.search.executors import Executor
from lesr_local.search.followups import followup_budget
from lesr_local.search.statistics import (
    ArmStats,
    SeedResult,
    curve_auc,
    interval_list,
    iqm,
    paired_bootstrap_ci,
    paired_t_ci,
    relative_improvement,
    sample_std,
    verdict_label,
)
from lesr_local.search.summary import best_search_candidate
from lesr_local.store import AblationRecord, Store

VARIANTS = ("full", "features_only", "reward_only", "additive", "potential", "raw")  # report order
DEFAULT_VARIANTS = ("full", "features_only", "reward_only", "potential", "raw")  # the paper's set


@dataclass(frozen=True)
class VariantSettings:
    """What one variant changes in the training."""

    uses_code: bool
    weight: float
    shaping: str
    observation: str  # "features" | "raw"

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.uses_code, self.weight, self.shaping if self.weight else None, self.observation)


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
    config: RunConfig
    variants: list[str]
    seeds: list[int]
    steps: int
    run_dir: Path


def plan_ablation(store: Store, run_id: str, variants: list[str], seeds: int | None, steps: int | None) -> AblationPlan:
    run = store.get_run(run_id)
    config = RunConfig.from_dict(run.config)
    candidates = store.list_candidates(run_id)
    best = next((c for c in candidates if c.candidate_id == run.best_candidate_id and c.kind == "search"
                 and c.status == "finished"), None) or best_search_candidate(candidates)
    if best is None or not best.code:
        raise BadInput(f"run {run_id} has no finished search candidate to ablate")
    seed_list, budget = followup_budget(config, seeds, steps)
    return AblationPlan(run_id, best.candidate_id, best.code, config, variants, seed_list, budget,
                        store.ensure_run_dir(run_id))


# -- running -------------------------------------------------------------------------------------

Notify = Callable[[str], None]


def run_ablation(store: Store, plan: AblationPlan, executor: Executor, cancel: threading.Event,
                 notify: Notify | None = None) -> None:
    """Train every (variant, seed) of the plan not finished yet; results go to the store as they end."""
    say = notify or (lambda _line: None)
    done = {(r.variant, r.seed) for r in store.list_ablations(plan.run_id)
            if r.candidate_id == plan.candidate_id and r.steps == plan.steps and r.status == "finished"}
    # One training per distinct setting and seed; variants that share a setting share its result.
    groups: dict[tuple[Any, ...], list[str]] = {}
    for variant in plan.variants:
        groups.setdefault(variant_settings(variant, plan.config).key, []).append(variant)
    futures: list[tuple[list[str], int, Any]] = []
    for names in groups.values():
        for seed in plan.seeds:
            todo = [v for v in names if (v, seed) not in done]
            if not todo:
                continue
            if len(todo) < len(names):  # a sharing variant already finished: copy its result
                _copy_result(store, plan, next(v for v in names if (v, seed) in done), todo, seed)
                continue
            settings = variant_settings(names[0], plan.config)
            for v in todo:
                store.start_ablation(plan.run_id, plan.candidate_id, plan.steps, v, seed,
                                     settings.shaping if settings.weight else None)
            spec = _spec(plan, names[0], seed, settings, executor.workers)
            futures.append((todo, seed, executor.submit(spec, None, cancel)))
    for names, seed, future in futures:
        result = future.result()
        if result.status == "cancelled" or cancel.is_set():
            continue  # stays running/pending in the store; a later `lesr ablate` continues it
        finished = result.status == "finished" and result.score is not None
        for v in names:
            store.finish_ablation(
                plan.run_id, plan.candidate_id, plan.steps, v, seed, status="finished" if finished else "failed",
                score=result.score if finished else None, auc=curve_auc(result.curve) if finished else None,
                curve=[(int(s), float(x)) for s, x in result.curve], reason=None if finished else result.reason,
                seconds=result.seconds,
            )
        label = "/".join(names)
        say(f"{label} seed {seed}: " + (f"score {result.score:.2f}" if finished else f"failed: {result.reason}"))
    if cancel.is_set():
        raise Interrupted(f"ablation interrupted; run `lesr ablate {plan.run_id}` again to continue")


def _copy_result(store: Store, plan: AblationPlan, source: str, targets: list[str], seed: int) -> None:
    row = next(r for r in store.list_ablations(plan.run_id) if r.candidate_id == plan.candidate_id
               and r.steps == plan.steps and r.variant == source and r.seed == seed)
    for v in targets:
        store.start_ablation(plan.run_id, plan.candidate_id, plan.steps, v, seed, row.shaping)
        store.finish_ablation(plan.run_id, plan.candidate_id, plan.steps, v, seed, status=row.status,
                              score=row.score, auc=row.auc, curve=row.curve, reason=row.reason, seconds=row.seconds)


def _spec(plan: AblationPlan, variant: str, seed: int, settings: VariantSettings, workers: int) -> TrainSpec:
    cfg = plan.config
    # Checkpoints let an interrupted ablation continue where it stopped.
    folder = plan.run_dir / "ablations" / f"{plan.candidate_id}-n{plan.steps}" / f"{variant}-s{seed}"
    return TrainSpec(
        env_id=cfg.env_id, steps=plan.steps, seed=seed, candidate_source=plan.code if settings.uses_code else None,
        intrinsic_weight=settings.weight, shaping=settings.shaping, observation=settings.observation,
        td3=cfg.td3, eval=cfg.eval, checkpoint_dir=folder, checkpoint_every=max(cfg.eval.every, plan.steps // 20),
        env_spec=cfg.env_spec, workers=workers, unsafe_no_seccomp=cfg.unsafe_no_seccomp,
    )


# -- reporting -----------------------------------------------------------------------------------


def ablation_report(records: list[AblationRecord]) -> list[dict[str, Any]]:
    """One entry per (candidate, steps) ablation: variants with per-seed results and the paired
    difference of each variant from raw over the seeds both finished."""
    sets: dict[tuple[str, int], list[AblationRecord]] = {}
    for r in records:
        sets.setdefault((r.candidate_id, r.steps), []).append(r)
    return [_one_set(cid, steps, rows) for (cid, steps), rows in sets.items()]


def _one_set(candidate_id: str, steps: int, rows: list[AblationRecord]) -> dict[str, Any]:
    by_variant: dict[str, list[AblationRecord]] = {}
    for r in rows:
        by_variant.setdefault(r.variant, []).append(r)
    variants = []
    for name in [v for v in VARIANTS if v in by_variant]:
        runs = sorted(by_variant[name], key=lambda r: r.seed)
        scores = [r.score for r in runs if r.status == "finished" and r.score is not None]
        variants.append({
            "variant": name, "shaping": next((r.shaping for r in runs), None),
            "per_seed": [{"seed": r.seed, "status": r.status, "score": r.score, "auc": r.auc, "reason": r.reason}
                         for r in runs],
            "mean": float(np.mean(scores)) if scores else None,
            "std": sample_std(scores),
            "iqm": iqm(scores), "finished": len(scores),
        })
    raw = {r.seed: r.score for r in by_variant.get("raw", []) if r.status == "finished" and r.score is not None}
    raw_arm = ArmStats.of([SeedResult(seed, score, None) for seed, score in sorted(raw.items())])
    differences = []
    for entry in variants:
        if entry["variant"] == "raw":
            continue
        pairs = [(p["seed"], p["score"] - raw[p["seed"]]) for p in entry["per_seed"]
                 if p["score"] is not None and p["seed"] in raw]
        diffs = [d for _, d in pairs]
        mean_diff = float(np.mean(diffs)) if diffs else None
        differences.append({
            "variant": entry["variant"], "seeds": [s for s, _ in pairs], "mean_difference": mean_diff,
            "ci95": interval_list(paired_bootstrap_ci(diffs)),
            "ci95_t": interval_list(paired_t_ci(diffs)),  # Student's t: honest where seeds are few
            # relative to the raw arm's mean, under the run summary's rule (only where that mean is
            # clearly away from 0)
            "relative": None if mean_diff is None else relative_improvement(mean_diff, raw_arm),
        })
    seeds = sorted({r.seed for r in rows})
    return {"candidate_id": candidate_id, "steps": steps, "seeds": seeds, "variants": variants,
            "differences_from_raw": differences}


def difference_text(difference: dict[str, Any]) -> tuple[str, str]:
    """`+12.30 [+1.00, +20.00] t [-5.00, +30.00]` for one variant's difference from raw, and its
    direction under the final evaluation's rule (both intervals must exclude 0)."""
    mean, boot, t = difference["mean_difference"], difference["ci95"], difference.get("ci95_t")
    if mean is None:
        return "-", "no detectable difference"
    text = f"{mean:+.2f}"
    if boot is not None:
        text += f" [{boot[0]:+.2f}, {boot[1]:+.2f}]"
    if t is not None:
        text += f" t [{t[0]:+.2f}, {t[1]:+.2f}]"
    return text, verdict_label(boot, t)
