"""`lesr transfer` input checks, its report and its paired bootstrap, on runs written into a real store.

The end-to-end transfer on a real smoke run is in tests/test_search_smoke.py (it reuses that run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lesr_local.config import preset
from lesr_local.experiments.transfer_report import transfer_reports
from lesr_local.store import Store, new_run_id
from tests.helpers_runs import record_training

CODE = """import numpy as np

def revise_state(s):
    return np.concatenate([s, [s[1] * s[3]]])

def intrinsic_reward(updated_s):
    return float(-abs(updated_s[4]))
"""


def _run(home: Path, env_id: str = "InvertedPendulum-v5", best_status: str | None = "finished") -> str:
    with Store(home) as store:
        run_id = new_run_id()
        config = {**preset("smoke").to_dict(), "env_id": env_id, "seeds": 2}  # a whole stored config
        store.create_run(run_id, env_id, "smoke", config)
        best = None
        if best_status is not None:
            store.add_candidate(run_id, "i0-k0", iteration=0, sample=0, code=CODE, extra_dims=1)
            record_training(store, run_id, "i0-k0", purpose="search", candidate_id="i0-k0", steps=300,
                            status=best_status, score=5.0, curve=[(300, 5.0)])
            best = "i0-k0" if best_status == "finished" else None
        store.end_run(run_id, "finished" if best else "interrupted", None, {"run_id": run_id}, best, 5.0, 4.0)
    return run_id


@pytest.mark.parametrize(("args", "expect"), [
    (["--algo", "a2c"], "unknown algo 'a2c'; choose one of: sac, ppo"),
    (["--algo", "td3"], "unknown algo 'td3'"),
    (["--algo", "sac", "--seeds", "0"], "--seeds must be at least 1"),
    # smoke: td3.start_steps = 400, the run's random warm-up, which SAC keeps
    (["--algo", "sac", "--steps", "10"], "--steps (10) must be above the run's td3.start_steps (400"),
    (["--algo", "sac", "--steps", "400"], "--steps (400) must be above the run's td3.start_steps (400"),
    # PPO has no random warm-up, but no policy update before its first rollout
    (["--algo", "ppo", "--steps", "10"], "--steps (10) must be above PPO's first rollout (64"),
    (["--algo", "ppo", "--steps", "64"], "--steps (64) must be above PPO's first rollout (64"),
    (["--algo", "ppo", "--seeds", str(2**32)], "its trainings would use seeds up to 4294967296"),
])
def test_bad_transfer_arguments_exit_2_with_one_line(home: Path, lesr, args: list[str], expect: str) -> None:
    run_id = _run(home)
    out = lesr("transfer", run_id, *args, home=home)
    assert out.returncode == 2 and expect in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_a_run_without_a_finished_best_is_refused(home: Path, lesr) -> None:
    for status in (None, "running"):
        run_id = _run(home, best_status=status)
        out = lesr("transfer", run_id, "--algo", "ppo", home=home)
        assert out.returncode == 2 and "no finished best candidate" in out.stderr, out.stderr
    out = lesr("transfer", "20990101-000000-zzzz", "--algo", "ppo", home=home)
    assert out.returncode == 2 and "unknown run id" in out.stderr


def test_sac_on_a_discrete_action_space_is_refused(home: Path, lesr) -> None:
    run_id = _run(home, env_id="CartPole-v1")
    out = lesr("transfer", run_id, "--algo", "sac", home=home)
    assert out.returncode == 2, out.stderr
    assert "SAC needs a continuous (Box) action space; CartPole-v1 has a Discrete one" in out.stderr


def test_report_pairs_seeds_and_show_lists_it(home: Path, lesr) -> None:
    run_id = _run(home)
    with Store(home) as store:
        for arm, scores in (("candidate", {1: 12.0, 2: 9.0}), ("raw", {1: 10.0, 2: 6.0})):
            for seed, score in scores.items():
                record_training(store, run_id, f"transfer-ppo-1-{arm}-s{seed}", purpose="transfer", arm=arm,
                                candidate_id="i0-k0" if arm == "candidate" else None, seed=seed, steps=300,
                                score=score, curve=[(300, score)], group_id="ppo-1", algo="ppo")
        [report] = transfer_reports(store, run_id)
    assert report["status"] == "finished" and report["seeds"] == [1, 2] and report["paired_seeds"] == 2
    assert report["best"]["mean"] == 10.5 and report["raw"]["mean"] == 8.0 and report["baseline"] == report["raw"]
    assert report["improvement_ci95_t"] is not None and report["shaping"] == "additive"
    assert report["improvement"] == pytest.approx(2.5)  # paired differences 2 and 3
    assert report["improvement_relative"] == pytest.approx(2.5 / 8.0)  # 8 is 4 standard errors from 0
    low, high = report["improvement_ci95"]
    # Resampling 2 pairs: the extremes are both-seed-1 (+2) and both-seed-2 (+3).
    assert low == pytest.approx(2.0) and high == pytest.approx(3.0)
    assert "preliminary" in report["verdict"]
    # ... but with 2 seeds that range says little: the t interval includes 0, so no direction
    t_low, t_high = report["improvement_ci95_t"]
    assert t_low == pytest.approx(2.5 - 12.706 * 0.5**0.5 / 2**0.5) and t_high > 3.0
    assert report["verdict_label"] == "no detectable difference"
    assert report["env_steps"] == 1200
    out = lesr("show", run_id, "--json", home=home)
    assert out.returncode == 0, out.stderr
    [shown] = json.loads(out.stdout)["transfers"]
    assert shown["transfer_id"] == "ppo-1" and [s["score"] for s in shown["best"]["per_seed"]] == [12.0, 9.0]
    text = lesr("show", run_id, home=home)
    assert "transfer ppo-1 — PPO, 300 steps × 2 seeds, additive shaping of the run's G — finished" in text.stdout
    assert ("difference +2.5 (+31.2%); 95% CI bootstrap [+2, +3], t [-3.853, +8.853]: no detectable difference"
            in text.stdout)
    out = lesr("show", run_id, "--json", home=home)
    [shown] = json.loads(out.stdout)["transfers"]
    assert shown["improvement_ci95_t"] == report["improvement_ci95_t"]
    assert shown["verdict_label"] == "no detectable difference"
