"""Trainings as records, without training: choosing on paired seeds, candidate failures as outcomes, what
more evidence would take, reuse lookups, the live curve across a resume, and what `lesr gc` frees."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from lesr_local.experiments.evaluation import final_comparison
from lesr_local.experiments.statistics import SeedResult, compare, seeds_for_detection
from lesr_local.rl.checkpoint import CHECKPOINT_NAME
from lesr_local.rl.spec import TrainProgress
from lesr_local.sandbox.tensorfile import pack
from lesr_local.search.selection import choose_best, read_selection, selection_finalists
from lesr_local.store import NewTraining, Store, new_run_id
from lesr_local.trainings.disk import KEPT_FOR_EXTENSION, KEPT_FOR_RESUME, NOT_NEEDED, STALE_TEMPORARY
from lesr_local.trainings.executors import LocalProcessExecutor
from lesr_local.trainings.service import TrainingJob, Trainings
from tests.helpers_runs import PENDULUM_CANDIDATE as CODE
from tests.helpers_runs import record_training


def _run(home: Path) -> tuple[Store, str]:
    store = Store(home)
    run_id = new_run_id()
    store.create_run(run_id, "InvertedPendulum-v5", "smoke", {"env_id": "InvertedPendulum-v5"})
    return store, run_id


# -- selection (issue 20 item 4) --------------------------------------------------------------------


def test_finalists_are_compared_on_the_seeds_they_share_and_a_crashing_one_is_out(tmp_path: Path) -> None:
    store, run_id = _run(tmp_path)
    for cid, score in (("a", 30.0), ("b", 20.0), ("c", 10.0)):
        store.add_candidate(run_id, cid, iteration=0, sample=0, code=CODE, extra_dims=1)
        record_training(store, run_id, cid, purpose="search", candidate_id=cid, score=score)
    # a: fine on both seeds; b: its code broke a training on seed 1001 but scored highest on 1000;
    # c: higher than a on seed 1000, its seed-1001 worker was killed (missing data, not an outcome)
    rows = [("a", 1000, 5.0, None), ("a", 1001, 7.0, None), ("b", 1000, 50.0, None), ("b", 1001, None, "candidate"),
            ("c", 1000, 6.0, None), ("c", 1001, None, "infrastructure")]
    for cid, seed, score, failure in rows:
        record_training(store, run_id, f"select-{cid}-s{seed}", purpose="selection", candidate_id=cid, seed=seed,
                        score=score, status="finished" if score is not None else "failed", failure=failure,
                        reason=None if failure is None else "revise_state raised IndexError")
    views, trainings = store.candidate_views(run_id), store.list_trainings(run_id)
    outcome = read_selection(selection_finalists(views), trainings)
    assert outcome.disqualified == {"b": "revise_state raised IndexError"}
    assert outcome.common_seeds == [1000]  # c has no 1001: the ranking uses the seed both a and c have
    assert outcome.means == {"a": 5.0, "c": 6.0}
    assert choose_best(views, trainings).candidate_id == "c"
    store.close()


# -- candidate failures in the final evaluation (issue 20 item 5) ----------------------------------


def test_a_candidate_that_breaks_some_final_trainings_can_never_read_better(tmp_path: Path) -> None:
    store, run_id = _run(tmp_path)
    for seed, best, raw in ((1, 30.0, 10.0), (2, 31.0, 11.0), (3, 29.0, 9.0), (4, None, 10.0)):
        record_training(store, run_id, f"final-raw-s{seed}", purpose="final", arm="raw", seed=seed, score=raw)
        record_training(store, run_id, f"final-best-s{seed}", purpose="final", candidate_id="a", seed=seed,
                        score=best, status="failed" if best is None else "finished", failure="candidate",
                        reason="intrinsic_reward returned nan at step 812")
    comparison = final_comparison(store.list_trainings(run_id))
    assert comparison.paired_seeds == [1, 2, 3] and comparison.excluded_seeds == []
    assert comparison.candidate_failed_seeds == [{"seed": 4, "reason": "intrinsic_reward returned nan at step 812"}]
    assert comparison.improvement_ci95_t[0] > 0  # both intervals exclude 0 ...
    assert comparison.verdict == "no detectable difference"  # ... yet a candidate that crashes is not better
    assert "failed its training on 1 seed" in comparison.sentence
    store.close()


def test_every_best_seed_failing_is_the_verdict_failed() -> None:
    raw = {1: SeedResult(1, 10.0, None), 2: SeedResult(2, 12.0, None)}
    comparison = compare({}, raw, None, {1: "revise_state raised ValueError", 2: "revise_state raised ValueError"})
    assert comparison.verdict == "failed" and comparison.paired_seeds == []
    assert comparison.sentence.startswith("failed: the best candidate's code failed its training on every seed")


def test_seeds_for_detection_by_hand() -> None:
    # differences 2 and 4: mean 3, s = sqrt(2); |3| > t(n-1) * s / sqrt(n) first at n = 4
    # (n=3: 4.303 * 1.414 / 1.732 = 3.51; n=4: 3.182 * 1.414 / 2 = 2.25)
    assert seeds_for_detection([2.0, 4.0]) == 4
    assert seeds_for_detection([1.0, -1.0]) is None  # mean 0: there is no difference to set apart
    assert seeds_for_detection([1.0, -0.99]) == 1001  # more seeds than the estimate goes to
    assert seeds_for_detection([3.0]) is None
    b = {1: SeedResult(1, 12.0, None), 2: SeedResult(2, 14.0, None)}
    r = {1: SeedResult(1, 10.0, None), 2: SeedResult(2, 10.0, None)}
    assert compare(b, r).seeds_for_detection == 4


# -- reuse lookups ---------------------------------------------------------------------------------


def test_only_a_finished_training_is_ever_reused(tmp_path: Path) -> None:
    store, run_id = _run(tmp_path)
    common = dict(purpose="control", arm="raw", candidate_id=None, seed=0, total_steps=600, key="k1", lineage="l1")
    store.add_training(run_id, NewTraining(training_id="control", **common))  # type: ignore[arg-type]
    store.mark_training_running(run_id, "control")
    assert store.finished_with_key("k1") is None  # another run's training in progress is not reused
    store.fail_training(run_id, "control", "killed", failure="infrastructure")
    assert store.finished_with_key("k1") is None
    store.finish_training(run_id, "control", score=1.0, curve=[(600, 1.0)], lipschitz=None, dim_names=None,
                          steps=600, seconds=1.0, steps_per_s=1.0, policy_path=None)
    assert store.finished_with_key("k1").training_id == "control"
    store.close()


def test_the_live_curve_keeps_what_came_before_a_resume(tmp_path: Path) -> None:
    store, run_id = _run(tmp_path)
    record = record_training(store, run_id, "control", purpose="control", arm="raw", status="running")
    store.update_training_progress(run_id, "control", 600, [(200, 1.0), (400, 2.0), (600, 3.0)])
    trainings = Trainings(store, run_id, LocalProcessExecutor(1), lambda e: None, threading.Event())
    job = TrainingJob(run_id, store.get_training(run_id, "control"), [])
    job.curve = list(store.get_training(run_id, "control").curve)
    # the worker resumed from its checkpoint at step 400: it reports from there on
    trainings._progress(job, TrainProgress(600, 1200, 10.0, None, (600, 3.5)))
    assert store.get_training(run_id, "control").curve == [(200, 1.0), (400, 2.0), (600, 3.5)]
    trainings._progress(job, TrainProgress(800, 1200, 10.0, None, (800, 4.0)))
    assert store.get_training(run_id, "control").curve == [(200, 1.0), (400, 2.0), (600, 3.5), (800, 4.0)]
    assert record.training_id == "control"
    trainings.executor.close()
    store.close()


# -- what a home holds, and lesr gc (issue 20 item 17, issue 21) -------------------------------------


def _checkpoint(folder: Path, step: int, boundary: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CHECKPOINT_NAME
    path.write_bytes(pack({"step": step, "episode_boundary": boundary, "buffer": np.zeros(1024)}).to_bytes())
    return path


def test_gc_frees_what_no_resume_needs_and_keeps_the_rest(tmp_path: Path, lesr) -> None:
    store, run_id = _run(tmp_path)
    folder = store.ensure_run_dir(run_id)
    finished = record_training(store, run_id, "final-raw-s1", purpose="final", arm="raw", seed=1)
    unfinished = record_training(store, run_id, "final-raw-s2", purpose="final", arm="raw", seed=2, status="running")
    crashed = record_training(store, run_id, "final-best-s1", purpose="final", candidate_id="a", seed=1,
                              status="failed", failure="candidate")
    kept = _checkpoint(folder / "checkpoints" / "final-raw-s1", 1100)
    resume = _checkpoint(folder / "checkpoints" / "final-raw-s2", 500)
    dead = _checkpoint(folder / "checkpoints" / "final-best-s1", 300)
    orphan = _checkpoint(folder / "checkpoints" / "gone", 300)
    tmp = folder / "policies" / ".final-raw-s1.safetensors.123.tmp"
    tmp.parent.mkdir(parents=True)
    tmp.write_bytes(b"half a file")
    policy = folder / "policies" / "final-raw-s1.safetensors"
    policy.write_bytes(b"a policy")
    store.end_run(run_id, "interrupted", None, {}, None, None, None)
    assert {finished.status, unfinished.status, crashed.status} == {"finished", "running", "failed"}
    shown = json.loads(lesr("show", run_id, "--json", home=tmp_path).stdout)["disk"]
    assert shown["checkpoints"][KEPT_FOR_EXTENSION]["files"] == 1 and shown["checkpoints"][KEPT_FOR_RESUME]["files"] == 1
    assert shown["checkpoints"][NOT_NEEDED]["files"] == 2 and shown["checkpoints"][STALE_TEMPORARY]["files"] == 1
    dry = lesr("gc", "--dry-run", "--json", home=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["freed_bytes"] == 0 and all(p.exists() for p in (kept, dead, orphan, tmp))
    real = json.loads(lesr("gc", "--json", home=tmp_path).stdout)
    assert real["freed_bytes"] == real["freeable_bytes"] > 0
    assert not kept.exists() and not dead.exists() and not orphan.exists() and not tmp.exists()
    assert resume.exists() and policy.exists()  # a resume needs the one; the other is a result
    store.close()


def test_a_failed_candidate_training_leaves_no_checkpoint(tmp_path: Path) -> None:
    """Issue 20 item 17: the checkpoint of a training its candidate failed is removed at once."""
    from lesr_local.config import EvalConfig, TD3Config
    from lesr_local.rl.spec import TrainSpec
    from lesr_local.trainings.service import TrainingRequest

    broken = CODE.replace("s[1] * s[3]", "s[1] * s[3] + (1.0 / 0.0 if s[0] > 0.0 else 0.0)")
    store, run_id = _run(tmp_path)
    spec = TrainSpec(env_id="InvertedPendulum-v5", steps=600, seed=0, candidate_source=broken,
                     learner=TD3Config(hidden_sizes=(16, 16), start_steps=100, batch_size=16),
                     eval=EvalConfig(every=100, episodes=1, last_k=1, goal_episodes=1), checkpoint_every=100)
    executor = LocalProcessExecutor(1)
    trainings = Trainings(store, run_id, executor, lambda e: None, threading.Event())
    # a checkpoint an earlier attempt left (unreadable: the worker starts afresh, as for any foreign one)
    _checkpoint(store.ensure_run_dir(run_id) / "checkpoints" / "t", 300)
    job = trainings.ask(TrainingRequest("t", "search", "candidate", spec, candidate_id="t"))
    trainings.wait([job])
    executor.close()
    record = store.get_training(run_id, "t")
    assert record.status == "failed" and record.failure == "candidate", record.reason
    assert not Path(record.checkpoint_dir).exists()
    store.close()


@pytest.mark.parametrize("bad", ["not json", "[]"])
def test_a_broken_checkpoint_header_is_not_taken_for_an_extension(tmp_path: Path, bad: str) -> None:
    from lesr_local.trainings.service import _boundary_step

    folder = tmp_path / "c"
    folder.mkdir()
    (folder / CHECKPOINT_NAME).write_bytes(len(bad).to_bytes(8, "little") + bad.encode())
    assert _boundary_step(str(folder)) is None
    _checkpoint(folder, 700, boundary=False)  # a rung pause cuts an episode: not exact to continue
    assert _boundary_step(str(folder)) is None
    _checkpoint(folder, 700)
    assert _boundary_step(str(folder)) == 700
