"""`lesr ablate`: the statistics helpers, the variant settings, and the real command on a finished run
written into a real store (real training workers, tiny budgets), then `lesr show` text, JSON and plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lesr_local.config import preset, with_overrides
from lesr_local.errors import BadInput
from lesr_local.experiments.ablation import (
    DEFAULT_VARIANTS,
    AblationPlan,
    difference_text,
    parse_variants,
    variant_request,
    variant_settings,
)
from lesr_local.store import Store, TrainingRecord, new_run_id
from lesr_local.trainings.keys import training_key
from tests.helpers_runs import PENDULUM_CANDIDATE as CODE
from tests.helpers_runs import record_training


def _key(variant: str, config: object) -> str:
    plan = AblationPlan("r", "i0-k0", CODE, 1, config, [variant], [1], 800, Path("."))  # type: ignore[arg-type]
    return training_key(variant_request(plan, variant, 1).spec)[0]


def test_variant_settings_and_parsing() -> None:
    additive = with_overrides(preset("smoke"), shaping="additive")
    full, pot = variant_settings("full", additive), variant_settings("potential", additive)
    assert full.shaping == "additive" and pot.shaping == "potential" and _key("full", additive) != _key(
        "potential", additive)
    assert variant_settings("features_only", additive).weight == 0.0
    assert variant_settings("reward_only", additive).observation == "raw"
    assert not variant_settings("raw", additive).uses_code
    # in a run that already shapes with a potential, full and potential are the same training (one key)
    potential_run = with_overrides(preset("smoke"), shaping="potential")
    assert _key("full", potential_run) == _key("potential", potential_run)
    # ... and additive is its own training there, but the same as full in an additive run
    assert _key("additive", potential_run) != _key("full", potential_run)
    assert _key("additive", additive) == _key("full", additive)
    assert parse_variants(None) == list(DEFAULT_VARIANTS) and "additive" not in DEFAULT_VARIANTS
    assert parse_variants("raw,potential,additive") == ["additive", "potential", "raw"]
    assert parse_variants("potential,full") == ["full", "potential", "raw"]  # raw always, canonical order
    with pytest.raises(BadInput, match="unknown variant"):
        parse_variants("full,nonsense")


def _finished_run(home: Path) -> str:
    # A shorter warm-up than smoke's 400, so that 300-step ablations train 100 steps after it.
    config = with_overrides(preset("smoke"), shaping="additive", **{"td3.start_steps": 200})
    store = Store(home)
    run_id = new_run_id()
    store.create_run(run_id, config.env_id, "smoke", config.to_dict())
    store.add_candidate(run_id, "i0-k0", iteration=0, sample=0, code=CODE, extra_dims=1)
    record_training(store, run_id, "i0-k0", purpose="search", candidate_id="i0-k0", steps=100, score=8.0,
                    curve=[(100, 8.0)], lipschitz=[0.1] * 5, dim_names=[f"d{i}" for i in range(5)])
    store.end_run(run_id, "finished", None, {}, "i0-k0", 8.0, None)
    store.close()
    return run_id


@pytest.mark.slow  # ten real trainings in worker processes: about a minute on 2 cores
def test_ablate_trains_every_variant_on_the_same_seeds_and_show_reports_them(tmp_path: Path, lesr) -> None:
    run_id = _finished_run(tmp_path)
    out = lesr("ablate", run_id, "--seeds", "2", "--steps", "300", "--workers", "2", "--json", home=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert report["run_id"] == run_id and report["candidate_id"] == "i0-k0" and report["steps"] == 300
    assert [v["variant"] for v in report["variants"]] == list(DEFAULT_VARIANTS)
    for v in report["variants"]:
        assert [p["seed"] for p in v["per_seed"]] == [1, 2], v  # the final evaluation's fresh seeds, paired
        assert all(p["status"] == "finished" and np.isfinite(p["score"]) for p in v["per_seed"]), v
        assert v["mean"] == pytest.approx(np.mean([p["score"] for p in v["per_seed"]]))
        assert v["iqm"] is not None and v["std"] is not None
    raw = {p["seed"]: p["score"] for v in report["variants"] if v["variant"] == "raw" for p in v["per_seed"]}
    diffs = {d["variant"]: d for d in report["differences_from_raw"]}
    assert set(diffs) == set(DEFAULT_VARIANTS) - {"raw"}
    full = next(v for v in report["variants"] if v["variant"] == "full")
    assert diffs["full"]["mean_difference"] == pytest.approx(np.mean([p["score"] - raw[p["seed"]]
                                                                      for p in full["per_seed"]]))
    low, high = diffs["full"]["ci95"]
    assert low <= diffs["full"]["mean_difference"] <= high

    with Store(tmp_path) as store:
        rows = store.list_trainings(run_id, purpose="ablation")
    assert len(rows) == 10 and {(r.arm, r.seed) for r in rows} == {(v, s) for v in DEFAULT_VARIANTS for s in (1, 2)}
    assert {r.shaping for r in rows if r.arm == "potential"} == {"potential"}
    assert {r.shaping for r in rows if r.arm == "raw"} == {None}

    # a second call finds every training finished: nothing is trained again, same numbers
    again = lesr("ablate", run_id, "--seeds", "2", "--steps", "300", "--variants", "full", "--json", home=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    repeat = json.loads(again.stdout)
    assert [v["variant"] for v in repeat["variants"]] == ["full", "raw"]
    assert repeat["variants"][0]["per_seed"] == full["per_seed"]
    with Store(tmp_path) as store:
        assert [r.finished_at for r in store.list_trainings(run_id, purpose="ablation")] == [
            r.finished_at for r in rows]

    shown = lesr("show", run_id, "--json", "--plot", str(tmp_path / "run.png"), home=tmp_path)
    assert shown.returncode == 0, shown.stderr[-2000:]
    detail = json.loads(shown.stdout)
    assert detail["shaping"] == "additive"
    [stored] = detail["ablations"]
    assert [v["variant"] for v in stored["variants"]] == list(DEFAULT_VARIANTS)
    assert (tmp_path / "run.png").read_bytes()[:4] == b"\x89PNG"
    text = lesr("show", run_id, home=tmp_path)
    assert text.returncode == 0 and "ablation of i0-k0" in text.stdout and "reward_only" in text.stdout


def test_ablate_bad_input_is_one_line_exit_2(tmp_path: Path, lesr) -> None:
    run_id = _finished_run(tmp_path)
    bad = lesr("ablate", run_id, "--variants", "full,typo", home=tmp_path)
    assert bad.returncode == 2 and "unknown variant" in bad.stderr and "Traceback" not in bad.stderr
    store = Store(tmp_path)
    empty = new_run_id()
    store.create_run(empty, "InvertedPendulum-v5", "smoke", preset("smoke").to_dict())
    store.close()
    none = lesr("ablate", empty, home=tmp_path)
    assert none.returncode == 2 and "no best candidate to ablate" in none.stderr
    zero = lesr("ablate", run_id, "--seeds", "0", home=tmp_path)
    assert zero.returncode == 2 and "--seeds" in zero.stderr
    # inside the run's random warm-up (td3.start_steps 200 here) nothing would be trained
    for steps in ("100", "200"):
        short = lesr("ablate", run_id, "--steps", steps, home=tmp_path)
        assert short.returncode == 2, short.stderr
        assert f"--steps ({steps}) must be above the run's td3.start_steps (200" in short.stderr
        assert short.stderr.count("\n") == 1
    with Store(tmp_path) as store:
        assert store.list_trainings(run_id, purpose="ablation") == []


def test_report_pairs_seeds_and_leaves_out_unfinished_ones() -> None:
    from lesr_local.experiments.ablation import ablation_report

    def row(variant: str, seed: int, score: float | None, status: str = "finished") -> TrainingRecord:
        return TrainingRecord(
            run_id="r", training_id=f"ablate-{variant}-s{seed}", purpose="ablation", arm=variant,
            candidate_id=None if variant == "raw" else "i0-k0", group_id="i0-k0-n300", seed=seed, total_steps=300,
            algo="td3", shaping=None, intrinsic_weight=0.0, observation="features", key="k", lineage="l",
            status=status, failure=None if status == "finished" else "infrastructure", reason=None, score=score,
            curve=[] if score is None else [(300, score)], lipschitz=None, dim_names=None, steps_done=300,
            seconds=1.0, steps_per_s=None, policy_path=None, checkpoint_dir=None, worker_pid=None, executor=None,
            node=None, resumed_from=None, rung_step=None, stopped_at_step=None, reused_from_run=None,
            reused_from_training=None, reused_steps=0, walls=None, numerics=None, settings=None, created_at=0.0,
            started_at=None, finished_at=1.0)

    rows = [row("raw", 1, 10.0), row("raw", 2, 20.0), row("raw", 3, 30.0),
            row("full", 1, 14.0), row("full", 2, 26.0), row("full", 3, None, "failed")]
    [report] = ablation_report(rows)
    assert report["seeds"] == [1, 2, 3] and [v["variant"] for v in report["variants"]] == ["full", "raw"]
    full = report["variants"][0]
    assert full["finished"] == 2 and full["mean"] == 20.0 and full["std"] == pytest.approx(72 ** 0.5)  # ddof=1
    [diff] = report["differences_from_raw"]
    assert diff["seeds"] == [1, 2] and diff["mean_difference"] == 5.0  # (4 + 6) / 2: seed 3 has no pair
    # relative to the raw mean of the same two paired seeds (15), not of all raw seeds (20)
    assert diff["relative"] == pytest.approx(5.0 / 15.0)
    low, high = diff["ci95"]
    assert 4.0 <= low <= 5.0 <= high <= 6.0


def test_difference_text_shows_both_intervals_and_survives_one_seed() -> None:
    three = {"mean_difference": 5.0, "ci95": [1.0, 9.0], "ci95_t": [-2.0, 12.0]}
    assert difference_text(three) == ("+5.00 [+1.00, +9.00] t [-2.00, +12.00]", "no detectable difference")
    assert difference_text({**three, "ci95_t": [0.5, 9.5]})[1] == "better"
    # one paired seed: a difference, no interval
    assert difference_text({"mean_difference": -3.0, "ci95": None, "ci95_t": None}) == (
        "-3.00", "no detectable difference")
