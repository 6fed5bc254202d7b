"""Final-evaluation statistics against hand-computed cases (experiments/statistics.py)."""

from __future__ import annotations

import math

import pytest

from lesr_local.experiments.statistics import (
    ArmStats,
    SeedResult,
    compare,
    curve_auc,
    iqm,
    paired_bootstrap_ci,
    paired_t_ci,
    relative_improvement,
    sample_std,
    verdict_label,
)


def _arm(scores: dict[int, float]) -> dict[int, SeedResult]:
    return {seed: SeedResult(seed=seed, score=v, auc=None) for seed, v in scores.items()}


def test_std_is_the_sample_std() -> None:
    assert sample_std([9.0, 11.0]) == pytest.approx(math.sqrt(2.0))
    assert sample_std([1.0, 2.0, 3.0, 4.0]) == pytest.approx(math.sqrt(5.0 / 3.0))
    assert sample_std([5.0]) is None


def test_iqm_drops_a_quarter_at_each_end() -> None:
    assert iqm([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert iqm([100, 1, 4, 2, 3]) == pytest.approx(3.0)  # floor(5/4) = 1 cut each end: 2, 3, 4
    assert iqm([1.0, 2.0, 9.0]) == pytest.approx(4.0)  # below 4 values: the mean
    assert iqm([]) is None


def test_auc_is_the_average_value_over_the_steps_it_spans() -> None:
    assert curve_auc([(0, 0.0), (10, 10.0)]) == pytest.approx(5.0)
    # (2000 * (1 + 3) / 2 + 2000 * 3) / 4000, given out of order
    assert curve_auc([(6000, 3.0), (2000, 1.0), (4000, 3.0)]) == pytest.approx(2.5)
    assert curve_auc([(500, 7.0)]) == pytest.approx(7.0)
    assert curve_auc([]) is None


def test_paired_bootstrap_on_known_samples() -> None:
    # Constant differences: every resample mean is 3.
    assert paired_bootstrap_ci([3.0, 3.0, 3.0]) == (pytest.approx(3.0), pytest.approx(3.0))
    # Two pairs: resample means 1, 1.5, 2 with probabilities 1/4, 1/2, 1/4 -> the 2.5 / 97.5 % points are 1 and 2.
    assert paired_bootstrap_ci([1.0, 2.0]) == (pytest.approx(1.0), pytest.approx(2.0))
    # [0, 0, 6]: P(mean = 0) = 8/27 and P(mean = 6) = 1/27, both above 2.5 % -> [0, 6].
    assert paired_bootstrap_ci([0.0, 0.0, 6.0]) == (pytest.approx(0.0), pytest.approx(6.0))
    assert paired_bootstrap_ci([4.0]) is None


def test_paired_bootstrap_is_deterministic_and_narrows_with_more_seeds() -> None:
    few = [1.0, -0.5, 2.0, 0.7, 1.1]
    assert paired_bootstrap_ci(few) == paired_bootstrap_ci(list(few))
    low, high = paired_bootstrap_ci(few)
    assert low < sum(few) / len(few) < high
    many_low, many_high = paired_bootstrap_ci(few * 8)
    assert many_high - many_low < high - low


def test_verdict_thresholds() -> None:
    assert verdict_label((0.1, 2.0)) == "better"
    assert verdict_label((-2.0, -0.1)) == "worse"
    assert verdict_label((0.0, 2.0)) == "no detectable difference"  # touching 0 is not above it
    assert verdict_label((-1.0, 1.0)) == "no detectable difference"
    assert verdict_label(None) == "no detectable difference"
    # with two intervals, both must exclude 0 on the same side
    assert verdict_label((0.1, 2.0), (-5.0, 7.0)) == "no detectable difference"
    assert verdict_label((0.1, 2.0), (0.05, 3.0)) == "better"
    assert verdict_label((-2.0, -0.1), None) == "no detectable difference"


def test_paired_t_interval_on_known_samples() -> None:
    # [1, 3]: mean 2, s = sqrt(2), standard error 1, t(0.975, 1) = 12.706
    low, high = paired_t_ci([1.0, 3.0])
    assert (low, high) == (pytest.approx(2.0 - 12.706), pytest.approx(2.0 + 12.706))
    # [2, 4, 6]: mean 4, s = 2, standard error 2 / sqrt(3), t(0.975, 2) = 4.303
    low, high = paired_t_ci([2.0, 4.0, 6.0])
    assert high - 4.0 == pytest.approx(4.303 * 2.0 / math.sqrt(3.0))
    assert paired_t_ci([4.0]) is None
    # past the table the series is close to the exact quantiles (2.0395 at 31 df, 1.9840 at 100)
    d31 = [0.0, 2.0] * 16
    half31 = paired_t_ci(d31)[1] - 1.0
    assert half31 / (math.sqrt(sum((x - 1.0) ** 2 for x in d31) / 31) / math.sqrt(32)) == pytest.approx(2.0395, abs=1e-3)


def test_two_seeds_never_give_a_direction() -> None:
    # Both differences positive: the percentile bootstrap is their range and excludes 0, but that
    # happens half the time when nothing differs; the t interval keeps the verdict honest.
    result = compare(_arm({1: 186.0 + 100.0, 2: 479.0 + 100.0}), _arm({1: 100.0, 2: 100.0}))
    assert result.improvement_ci95 == [pytest.approx(186.0), pytest.approx(479.0)]
    low, high = result.improvement_ci95_t
    assert low < 0 < high
    assert result.verdict == "no detectable difference"
    assert "t interval" in result.sentence and "preliminary" in result.sentence


def test_relative_improvement_only_away_from_zero() -> None:
    # baseline [4, 6]: mean 5, std sqrt(2), standard error 1 -> 5 >= 2 standard errors
    base = ArmStats.of(list(_arm({0: 4.0, 1: 6.0}).values()))
    assert relative_improvement(2.5, base) == pytest.approx(0.5)
    # baseline [1, 3]: mean 2 = exactly 2 standard errors -> allowed
    assert relative_improvement(1.0, ArmStats.of(list(_arm({0: 1.0, 1: 3.0}).values()))) == pytest.approx(0.5)
    # baseline [0.5, 3.5]: mean 2 < 2 * 1.5 -> a percentage would be noise
    assert relative_improvement(1.0, ArmStats.of(list(_arm({0: 0.5, 1: 3.5}).values()))) is None
    # baseline around 0, or a single seed
    assert relative_improvement(1.0, ArmStats.of(list(_arm({0: -1.0, 1: 1.0}).values()))) is None
    assert relative_improvement(1.0, ArmStats.of(list(_arm({0: 10.0}).values()))) is None


def test_compare_pairs_seeds_and_reports_a_failed_one() -> None:
    best = _arm({1: 10.0, 2: 12.0, 3: 50.0})
    base = _arm({1: 4.0, 3: 6.0})
    result = compare(best, base, failures={2: {"baseline": "training worker died with SIGKILL"}})
    assert result.paired_seeds == [1, 3]
    assert result.excluded_seeds == [
        {"seed": 2, "missing": ["baseline"], "reason": "baseline: training worker died with SIGKILL"}]
    # seed 2 is out of BOTH arms
    assert result.best.mean == pytest.approx(30.0) and result.best.seeds == 2
    assert [p["seed"] for p in result.best.per_seed] == [1, 3]
    assert result.baseline.mean == pytest.approx(5.0)
    assert result.improvement == pytest.approx(25.0)  # mean of the differences 6 and 44
    assert result.improvement_ci95 == [pytest.approx(6.0), pytest.approx(44.0)]
    # differences 6 and 44: s = 26.87, standard error 19, t(0.975, 1) = 12.706
    assert result.improvement_ci95_t == [pytest.approx(25.0 - 12.706 * 19.0, rel=1e-3),
                                         pytest.approx(25.0 + 12.706 * 19.0, rel=1e-3)]
    assert result.verdict == "no detectable difference"  # two seeds cannot show a direction
    assert "2 paired seeds" in result.sentence and "preliminary" in result.sentence
    assert "1 seed failed in an arm and is excluded" in result.sentence
    final = result.final_dict()
    assert set(final["best"]) >= {"mean", "std", "iqm", "auc", "per_seed"}
    assert final["best"]["per_seed"][0] == {"seed": 1, "score": 10.0, "auc": None}


def test_compare_five_seeds_no_difference_is_not_preliminary() -> None:
    best = _arm({s: v for s, v in enumerate([1.0, 3.0, 2.0, 5.0, 4.0])})
    base = _arm({s: v for s, v in enumerate([2.0, 2.0, 3.0, 4.0, 4.0])})
    result = compare(best, base)
    low, high = result.improvement_ci95
    assert low < 0 < high
    assert result.verdict == "no detectable difference"
    assert "5 paired seeds" in result.sentence and "preliminary" not in result.sentence


def test_compare_worse_and_single_seed() -> None:
    worse = compare(_arm(dict(enumerate([1.0, 2.0, 1.0, 2.0, 1.0, 2.0]))),
                    _arm(dict(enumerate([5.0, 7.0, 5.0, 6.0, 6.0, 7.0]))))
    assert worse.verdict == "worse" and worse.improvement == pytest.approx(-4.5)
    assert worse.improvement_ci95_t[1] < 0 and worse.sentence.startswith("worse")
    better = compare(_arm(dict(enumerate([5.0, 7.0, 5.0, 6.0, 6.0, 7.0]))),
                     _arm(dict(enumerate([1.0, 2.0, 1.0, 2.0, 1.0, 2.0]))))
    assert better.verdict == "better" and better.sentence.startswith("better")
    single = compare(_arm({0: 9.0}), _arm({0: 1.0}))
    assert single.improvement_ci95 is None and single.verdict == "no detectable difference"
    assert "too few for an interval" in single.sentence
    nothing = compare(_arm({0: 9.0}), _arm({1: 1.0}))
    assert nothing.paired_seeds == [] and nothing.improvement is None and nothing.best.mean is None
    assert nothing.verdict == "no detectable difference"
