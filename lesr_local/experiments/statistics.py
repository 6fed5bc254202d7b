"""Paired statistics of the final evaluation: best candidate vs raw-state baseline on the same seeds.

Only what a few seeds can support is reported:
- Pairing: the comparison uses the seeds where BOTH arms finished; a seed that failed (or is missing)
  in either arm is listed under `excluded_seeds` and left out of both arms, so the two means are over
  the same seeds.
- Per arm: mean, std with ddof=1 (None below 2 seeds), IQM, AUC.
  IQM is the interquartile mean of Agarwal et al. (2021): sort, drop floor(n/4) values at each end,
  average the rest (scipy.stats.trim_mean(x, 0.25)); below 4 seeds it is the plain mean.
  AUC is the area under a training's evaluation curve (trapezoids between evaluations) divided by the
  steps it spans, i.e. the curve's average value from the first to the last evaluation; a one-point
  curve's AUC is that point. The arm's AUC is the mean over its paired seeds.
- Improvement: the difference of the paired means (best - baseline), in the metric's own units.
  A relative figure is given only when the baseline mean is clearly away from zero: its magnitude
  must be at least two standard errors of the baseline (std / sqrt(n), so at least 2 seeds), the
  usual 95 % band. Near zero (early HalfCheetah, success rates of 0) a percentage explodes and says
  nothing, so it is None there.
- Interval: a paired percentile bootstrap of the mean difference (10 000 resamples of the seeds with
  a fixed generator seed, so the same data give the same interval). Below 2 paired seeds there is
  no interval.
- A second interval, Student's t (mean ± t(0.975, n-1) · s / sqrt(n)), is reported next to it
  (`improvement_ci95_t`). With few seeds a percentile bootstrap cannot reach its stated coverage: with
  2 seeds it is just the range of the two differences, which excludes 0 whenever both have the same
  sign, i.e. half the time when nothing differs. The t interval is wide where the data are few
  (t = 12.7 with 2 seeds, 4.3 with 3) and close to the bootstrap from about 10 seeds on.
- Verdict: "better" when BOTH intervals lie wholly above 0, "worse" when both lie below, otherwise
  "no detectable difference" (always so without an interval); the sentence gives the paired seed
  count and says "preliminary" below 5 seeds.
- Failures. A seed that failed for reasons outside the candidate (a killed worker, a lost node) is
  missing data: it leaves both arms and is listed. A seed where the candidate's own code failed the
  training (it raised, or broke a runtime rule) is an outcome of the candidate, not missing data: it
  is listed apart (`candidate_failed_seeds`), the verdict can then never be "better", and when the
  candidate failed on every seed the verdict is "failed" (there is nothing to compare, and that is
  the finding).
- More evidence: where the verdict is "no detectable difference", `seeds_for_detection` estimates
  how many paired seeds would put the observed mean difference outside the t interval at the
  observed spread: the smallest n with |mean| > t(0.975, n-1) * s / sqrt(n). An estimate from the
  data at hand (the next seeds move both the mean and the spread), not a promise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
PRELIMINARY_BELOW = 5  # seeds
RELATIVE_MIN_STANDARD_ERRORS = 2.0
MAX_SEEDS_ESTIMATE = 1000  # beyond this the estimate says "more than"
# Student's t, two-sided 95 % (the 0.975 quantile), by degrees of freedom; above 30 the series in
# `_t975` is within 0.001 of the exact value.
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
        18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
        26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042}


@dataclass
class SeedResult:
    """One finished training of one arm."""

    seed: int
    score: float
    auc: float | None


@dataclass
class ArmStats:
    mean: float | None
    std: float | None  # ddof=1
    iqm: float | None
    auc: float | None
    seeds: int
    per_seed: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, results: list[SeedResult]) -> ArmStats:
        scores = [r.score for r in results]
        aucs = [r.auc for r in results if r.auc is not None]
        return cls(
            mean=float(np.mean(scores)) if scores else None,
            std=sample_std(scores),
            iqm=iqm(scores),
            auc=float(np.mean(aucs)) if aucs else None,
            seeds=len(results),
            per_seed=[asdict(r) for r in results],
        )


def sample_std(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    return float(np.std(np.asarray(values, dtype=float), ddof=1))


def iqm(values: list[float]) -> float | None:
    """Interquartile mean: drop floor(n/4) values at each end of the sorted sample, average the rest."""
    if not values:
        return None
    ordered = np.sort(np.asarray(values, dtype=float))
    cut = len(ordered) // 4
    return float(np.mean(ordered[cut: len(ordered) - cut]))


def curve_auc(curve: list[tuple[int, float]] | list[list[float]]) -> float | None:
    """Area under the evaluation curve divided by the steps it spans (its average value)."""
    points = sorted((float(s), float(v)) for s, v in curve)
    if not points:
        return None
    if len(points) == 1 or points[-1][0] == points[0][0]:
        return float(np.mean([v for _, v in points]))
    area = sum((s1 - s0) * (v0 + v1) / 2.0 for (s0, v0), (s1, v1) in zip(points, points[1:], strict=False))
    return area / (points[-1][0] - points[0][0])


def paired_bootstrap_ci(differences: list[float], *, resamples: int = BOOTSTRAP_RESAMPLES,
                        seed: int = BOOTSTRAP_SEED, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Percentile interval of the mean paired difference; None below 2 pairs."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(resamples, len(d)))
    means = d[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _t975(df: int) -> float:
    if df in T975:
        return T975[df]
    z = 1.959964  # Cornish-Fisher expansion of the t quantile around the normal one
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def paired_t_ci(differences: list[float]) -> tuple[float, float] | None:
    """Student's t 95 % interval of the mean paired difference; None below 2 pairs."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return None
    half = _t975(len(d) - 1) * float(np.std(d, ddof=1)) / math.sqrt(len(d))
    mean = float(d.mean())
    return mean - half, mean + half


def relative_improvement(difference: float, baseline: ArmStats) -> float | None:
    """difference / |baseline mean|, only when that mean is >= 2 standard errors away from 0."""
    if baseline.mean is None or baseline.std is None or baseline.seeds < 2:
        return None
    standard_error = baseline.std / math.sqrt(baseline.seeds)
    magnitude = abs(baseline.mean)
    if magnitude == 0 or magnitude < RELATIVE_MIN_STANDARD_ERRORS * standard_error:
        return None
    return difference / magnitude


def seeds_for_detection(differences: list[float]) -> int | None:
    """Paired seeds at which the observed mean difference would lie outside the t interval at the
    observed spread (MAX_SEEDS_ESTIMATE + 1 for "more than that"); None below 2 pairs or without
    a difference or a spread to speak of."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return None
    mean, spread = abs(float(d.mean())), float(np.std(d, ddof=1))
    if mean == 0.0 or spread == 0.0:
        return None
    for n in range(2, MAX_SEEDS_ESTIMATE + 1):
        if mean > _t975(n - 1) * spread / math.sqrt(n):
            return n
    return MAX_SEEDS_ESTIMATE + 1


def verdict_label(*intervals: Sequence[float] | None) -> str:
    """A direction only when every interval given excludes 0 on the same side."""
    present = [ci for ci in intervals if ci is not None]
    if not present or len(present) < len(intervals):
        return "no detectable difference"
    if all(ci[0] > 0 for ci in present):
        return "better"
    if all(ci[1] < 0 for ci in present):
        return "worse"
    return "no detectable difference"


def interval_list(interval: tuple[float, float] | None) -> list[float] | None:
    """An interval as the JSON reports store it ([low, high]), None kept."""
    return None if interval is None else [interval[0], interval[1]]


@dataclass
class Comparison:
    best: ArmStats
    baseline: ArmStats
    improvement: float | None  # difference of paired means (best - baseline)
    improvement_relative: float | None
    improvement_ci95: list[float] | None  # paired percentile bootstrap
    improvement_ci95_t: list[float] | None  # Student's t: the verdict needs both to exclude 0
    verdict: str  # better | worse | no detectable difference | failed (the candidate failed every seed)
    sentence: str
    paired_seeds: list[int]
    excluded_seeds: list[dict[str, Any]]
    candidate_failed_seeds: list[dict[str, Any]] = field(default_factory=list)
    seeds_for_detection: int | None = None

    def final_dict(self) -> dict[str, Any]:
        # `raw` is the raw-state arm's name; `baseline` is kept for scripts that read it
        return {
            "best": asdict(self.best), "raw": asdict(self.baseline), "baseline": asdict(self.baseline),
            "improvement": self.improvement, "improvement_relative": self.improvement_relative,
            "improvement_ci95": self.improvement_ci95, "improvement_ci95_t": self.improvement_ci95_t,
            "verdict": self.verdict, "paired_seeds": self.paired_seeds, "excluded_seeds": self.excluded_seeds,
            "candidate_failed_seeds": self.candidate_failed_seeds, "seeds_for_detection": self.seeds_for_detection,
        }


def compare(best: dict[int, SeedResult], baseline: dict[int, SeedResult],
            failures: dict[int, dict[str, str]] | None = None,
            candidate_failures: dict[int, str] | None = None) -> Comparison:
    """Pair the arms by seed. `failures` maps seed -> {arm: reason} for trainings that failed outside
    the candidate (missing data); `candidate_failures` maps seed -> reason for seeds where the best
    arm's candidate failed its training (an outcome)."""
    failures = failures or {}
    candidate_failures = {seed: reason for seed, reason in (candidate_failures or {}).items() if seed not in best}
    all_seeds = sorted((set(best) | set(baseline) | set(failures)) - set(candidate_failures))
    paired = [s for s in all_seeds if s in best and s in baseline]
    excluded: list[dict[str, Any]] = []
    for seed in all_seeds:
        if seed in paired:
            continue
        missing = [arm for arm, results in (("best", best), ("baseline", baseline)) if seed not in results]
        reasons = failures.get(seed, {})
        excluded.append({
            "seed": seed, "missing": missing,
            "reason": "; ".join(f"{arm}: {reasons.get(arm, 'not finished')}" for arm in missing),
        })
    arm_best = ArmStats.of([best[s] for s in paired])
    arm_base = ArmStats.of([baseline[s] for s in paired])
    diffs = [best[s].score - baseline[s].score for s in paired]
    difference = float(np.mean(diffs)) if diffs else None
    scale = max((abs(r.score) for r in [*best.values(), *baseline.values()]), default=1.0)
    if difference is not None and abs(difference) <= 1e-12 * max(scale, 1.0):
        difference = 0.0  # rounding residue of equal means, not a difference
    ci, t_ci = paired_bootstrap_ci(diffs), paired_t_ci(diffs)
    label = verdict_label(ci, t_ci)
    failed = [{"seed": seed, "reason": reason} for seed, reason in sorted(candidate_failures.items())]
    if failed and not paired:
        label = "failed"
    elif failed and label == "better":
        label = "no detectable difference"  # a candidate that breaks some trainings is not better
    relative = relative_improvement(difference, arm_base) if difference is not None else None
    needed = seeds_for_detection(diffs) if label == "no detectable difference" and not failed else None
    sentence = verdict_sentence(label, difference, ci, len(paired), len(excluded), t_ci)
    if failed and label == "failed":
        sentence += f" ({failed[0]['reason'][:160]})"
    elif failed:
        sentence += (f"; the best candidate's own code failed its training on {len(failed)} seed"
                     f"{'s' if len(failed) != 1 else ''} ({failed[0]['reason'][:160]})")
    return Comparison(
        best=arm_best, baseline=arm_base, improvement=difference, improvement_relative=relative,
        improvement_ci95=interval_list(ci), improvement_ci95_t=interval_list(t_ci), verdict=label,
        sentence=sentence, paired_seeds=paired, excluded_seeds=excluded, candidate_failed_seeds=failed,
        seeds_for_detection=needed,
    )


def verdict_sentence(label: str, difference: float | None, ci: tuple[float, float] | None, paired: int,
                     excluded: int, t_ci: tuple[float, float] | None = None) -> str:
    """One sentence: the label first, then the evidence and its limits."""
    if label == "failed":
        return "failed: the best candidate's code failed its training on every seed of the final evaluation"
    if paired == 0:
        return "no detectable difference: no seed finished in both arms, so there is nothing to compare"
    seeds = f"{paired} paired seed{'s' if paired != 1 else ''}"
    if ci is None:
        evidence = f"difference {difference:+.4g} over {seeds}, too few for an interval"
    else:
        t_part = "" if t_ci is None else f"; t interval [{t_ci[0]:+.4g}, {t_ci[1]:+.4g}]"
        evidence = f"difference {difference:+.4g} (95% CI [{ci[0]:+.4g}, {ci[1]:+.4g}]{t_part}) over {seeds}"
    head = {"better": "better: the best candidate beats the raw-state baseline",
            "worse": "worse: the best candidate is below the raw-state baseline",
            }.get(label, "no detectable difference between the best candidate and the raw-state baseline")
    tail = ""
    if paired < PRELIMINARY_BELOW:
        tail += f"; preliminary (fewer than {PRELIMINARY_BELOW} seeds)"
    if excluded:
        tail += f"; {excluded} seed{'s' if excluded != 1 else ''} failed in an arm and {'are' if excluded != 1 else 'is'} excluded"
    return f"{head} at 95%: {evidence}{tail}"
