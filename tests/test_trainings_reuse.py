"""Reuse of identical trainings, prefix extension, more seeds for a finished run, and `lesr evaluate`:
the real engine (a replay LLM answering with stored modules), real sandboxed training workers, MuJoCo
and SQLite, at tiny budgets (InvertedPendulum, 16-16 networks, 600 steps)."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from lesr_local import events as ev
from lesr_local.config import EvalConfig, LLMConfig, RunConfig, TD3Config
from lesr_local.errors import Interrupted
from lesr_local.search.engine import SearchEngine
from lesr_local.search.replay import replay_factory
from lesr_local.store import Store
from lesr_local.trainings.executors import LocalProcessExecutor
from lesr_local.trainings.requests import spec_for
from lesr_local.trainings.service import TrainingRequest, Trainings
from tests.conftest import run_lesr

pytestmark = pytest.mark.slow

STEPS = 600


def _module(feature: str) -> str:
    return (f"import numpy as np\n\n\ndef revise_state(s):\n    f1 = {feature}\n"
            f"    return np.concatenate([s, np.array([f1])])\n\n\n"
            f"def intrinsic_reward(updated_s):\n    return float(np.clip(-abs(updated_s[4]), -10, 10))\n")


CODES_A = [_module("s[1] * s[3]"), _module("abs(s[1])")]
CODES_B = [_module("s[0] + s[2]"), _module("np.tanh(s[3])")]
BROKEN = _module("s[99]")  # IndexError on the first state: the candidate's own failure


def _config(**changes: Any) -> RunConfig:
    config = RunConfig(
        env_id="InvertedPendulum-v5", preset="smoke", samples=2, iterations=1, steps=STEPS, final_steps=STEPS,
        seeds=2, workers=2, seed=0, render_video=False, prune="none", select_seeds=0,
        td3=TD3Config(hidden_sizes=(16, 16), start_steps=200, batch_size=32),
        eval=EvalConfig(every=100, episodes=2, last_k=2, goal_episodes=2),
        llm=LLMConfig(repair_attempts=0, analysis_max_tokens=32),
    )
    return dataclasses.replace(config, **changes)


def _search(home: Path, codes: list[str], config: RunConfig | None = None, **engine: Any) -> dict[str, Any]:
    with Store(home) as store:
        return SearchEngine(store, lambda e: None, llm_client_factory=replay_factory(codes), **engine).start(
            config or _config()).to_dict()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run A, then run B (other candidates, same env, settings and seed) in the same home."""
    folder = tmp_path_factory.mktemp("reuse-home")
    first = _search(folder, CODES_A)
    second = _search(folder, CODES_B)
    return {"home": folder, "a": first, "b": second}


def _trainings(home: Path, run_id: str) -> dict[str, Any]:
    with Store(home) as store:
        return {t.training_id: t for t in store.list_trainings(run_id)}


def test_a_second_run_trains_only_its_candidates(home: dict[str, Any]) -> None:
    a, b = home["a"], home["b"]
    assert a["reused_env_steps"] == 0 and a["trained_env_steps"] == a["total_env_steps"] == 7 * STEPS
    # the control and both raw final arms are the same trainings as run A's: taken, not trained
    assert b["total_env_steps"] == 7 * STEPS and b["reused_env_steps"] == 3 * STEPS
    assert b["trained_env_steps"] == 4 * STEPS
    ta, tb = _trainings(home["home"], a["run_id"]), _trainings(home["home"], b["run_id"])
    for tid in ("control", "final-raw-s1", "final-raw-s2"):
        assert (tb[tid].reused_from_run, tb[tid].reused_from_training) == (a["run_id"], tid)
        assert tb[tid].score == ta[tid].score and tb[tid].curve == ta[tid].curve and tb[tid].key == ta[tid].key
    assert all(tb[t].reused_from_training is None for t in ("i0-k0", "i0-k1", "final-best-s1", "final-best-s2"))
    assert b["control"]["score"] == a["control"]["score"]


def test_no_reuse_trains_everything_and_a_fresh_training_repeats_the_reused_numbers(home: dict[str, Any]) -> None:
    c = _search(home["home"], CODES_B, _config(reuse=False))
    assert c["reused_env_steps"] == 0 and c["trained_env_steps"] == 7 * STEPS
    ta, tc = _trainings(home["home"], home["a"]["run_id"]), _trainings(home["home"], c["run_id"])
    tb = _trainings(home["home"], home["b"]["run_id"])
    # trainings are deterministic per seed on one machine: retrained, the reused numbers come out again
    for tid in ("control", "final-raw-s1", "final-raw-s2"):
        assert tc[tid].reused_from_training is None
        assert (tc[tid].score, tc[tid].curve, tc[tid].lipschitz) == (ta[tid].score, ta[tid].curve, ta[tid].lipschitz)
    assert tc["final-best-s1"].score == tb["final-best-s1"].score  # a candidate's too


def test_more_seeds_for_a_finished_run_train_only_what_is_missing(home: dict[str, Any]) -> None:
    folder, run_id = home["home"], home["a"]["run_id"]
    before = _trainings(folder, run_id)
    proc = run_lesr("run", "--resume", run_id, "--seeds", "3", "--headless", "--json", home=folder, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished" and summary["final"]["paired_seeds"] == [1, 2, 3]
    after = _trainings(folder, run_id)
    for tid in ("final-best-s1", "final-raw-s1", "final-best-s2", "final-raw-s2", "control", "i0-k0"):
        assert after[tid].finished_at == before[tid].finished_at  # not trained again
    assert {"final-best-s3", "final-raw-s3"} <= set(after)
    with Store(folder) as store:
        run = store.get_run(run_id)
    assert run.config["seeds"] == 3 and run.summary == summary and run.status == "finished"
    assert summary["final_env_steps"] == 6 * STEPS
    fewer = run_lesr("run", "--resume", run_id, "--seeds", "2", "--headless", home=folder)
    assert fewer.returncode == 2 and "already has 3 final seed(s)" in fewer.stderr


def test_an_ablation_takes_the_final_evaluations_trainings(home: dict[str, Any]) -> None:
    folder, run_id = home["home"], home["b"]["run_id"]
    proc = run_lesr("ablate", run_id, "--variants", "full,raw", "--seeds", "2", "--json", home=folder, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    finals = _trainings(folder, run_id)
    for variant in report["variants"]:
        for entry in variant["per_seed"]:
            seed = entry["seed"]
            # full is run B's own final best arm; raw is the original of B's (reused) raw arm: run A's
            expected = (f"{run_id}/final-best-s{seed}" if variant["variant"] == "full"
                        else f"{home['a']['run_id']}/final-raw-s{seed}")
            assert entry["reused_from"] == expected, entry
            source = "final-best" if variant["variant"] == "full" else "final-raw"
            assert entry["score"] == finals[f"{source}-s{seed}"].score


def test_a_longer_training_continues_a_shorter_one_exactly(home: dict[str, Any]) -> None:
    folder = home["home"]
    config = _config()
    with Store(folder) as store:
        ids = []
        for name in ("short", "long", "straight"):
            run_id = f"ext-{name}"
            store.create_run(run_id, config.env_id, "smoke", config.to_dict())
            ids.append(run_id)
        executor = LocalProcessExecutor(2)
        try:
            def ask(run_id: str, steps: int, reuse: bool) -> Any:
                trainings = Trainings(store, run_id, executor, lambda e: None, threading.Event(), reuse=reuse)
                spec = spec_for(config, code=None, seed=7, steps=steps)
                job = trainings.ask(TrainingRequest("raw-s7", "final", "raw", spec))
                trainings.wait([job])
                return store.get_training(run_id, "raw-s7")

            short = ask(ids[0], 1200, True)
            long = ask(ids[1], 2000, True)
            straight = ask(ids[2], 2000, False)
        finally:
            executor.close()
    assert short.status == long.status == straight.status == "finished"
    assert long.reused_from_training == "raw-s7" and long.reused_from_run == ids[0]
    assert 1200 - config.eval.every - 200 <= long.reused_steps < 1200  # its last checkpoint, an episode boundary
    assert long.resumed_from == long.reused_steps and long.trained_steps == 2000 - long.reused_steps
    assert straight.reused_from_training is None and straight.resumed_from == 0
    # the continued training is the uninterrupted one, evaluation for evaluation
    assert long.curve == straight.curve and long.score == straight.score and long.lipschitz == straight.lipschitz


def test_a_killed_run_resumes_with_reuse_off(tmp_path: Path) -> None:
    cancel = threading.Event()

    def sink(event: ev.Event) -> None:
        if isinstance(event, ev.TrainingStarted) and event.purpose == "search":
            cancel.set()

    config = _config(reuse=False, seeds=1, samples=1)
    with Store(tmp_path) as store:
        with pytest.raises(Interrupted):
            SearchEngine(store, sink, cancel, llm_client_factory=replay_factory(CODES_A)).start(config)
        [run] = store.list_runs()
        summary = SearchEngine(store, lambda e: None, llm_client_factory=replay_factory([])).resume(run.run_id)
    assert summary.status == "finished" and summary.reused_env_steps == 0
    assert summary.total_env_steps == 4 * STEPS


def test_a_best_candidate_that_fails_every_final_seed_ends_the_run_with_that_verdict(tmp_path: Path) -> None:
    class BreakTheBest(LocalProcessExecutor):
        def submit(self, spec: Any, *args: Any, **kwargs: Any) -> Any:
            if spec.candidate_source is not None and spec.seed != 0:  # the final evaluation's best arm
                spec = dataclasses.replace(spec, candidate_source=BROKEN)
            return super().submit(spec, *args, **kwargs)

    summary = _search(tmp_path, CODES_A[:1], _config(samples=1), executor_factory=BreakTheBest)
    assert summary["status"] == "finished"
    assert summary["final"]["verdict"] == "failed" and summary["verdict"].startswith("failed:")
    assert [f["seed"] for f in summary["final"]["candidate_failed_seeds"]] == [1, 2]
    assert "IndexError" in summary["final"]["candidate_failed_seeds"][0]["reason"]


def test_evaluate_a_features_file_against_the_raw_state(tmp_path: Path) -> None:
    features = tmp_path / "features.py"
    features.write_text(CODES_A[0])
    args = ["evaluate", "--env", "InvertedPendulum-v5", "--features", str(features), "--preset", "smoke",
            "--steps", "600", "--seeds", "2", "--json"]
    first = run_lesr(*args, home=tmp_path / "h", timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["kind"] == "evaluation" and summary["status"] == "finished"
    final = summary["final"]
    assert final["paired_seeds"] == [1, 2] and final["best"]["seeds"] == 2 and final["raw"]["seeds"] == 2
    assert summary["verdict"] and summary["total_env_steps"] == 4 * 600 and summary["search_env_steps"] == 0
    again = run_lesr(*args, home=tmp_path / "h", timeout=600)
    repeat = json.loads(again.stdout.strip().splitlines()[-1])
    assert repeat["reused_env_steps"] == repeat["total_env_steps"] == 4 * 600  # nothing trained again
    assert repeat["final"]["best"]["per_seed"] == final["best"]["per_seed"]
    history = json.loads(run_lesr("history", "--json", home=tmp_path / "h").stdout)
    assert {row["kind"] for row in history} == {"evaluation"} and len(history) == 2
    shown = json.loads(run_lesr("show", summary["run_id"], "--json", home=tmp_path / "h").stdout)
    assert shown["kind"] == "evaluation" and shown["candidates"][0]["code"] == CODES_A[0]
    broken = tmp_path / "broken.py"
    broken.write_text("import os\n" + CODES_A[0])
    refused = run_lesr(*args[:4], str(broken), home=tmp_path / "h")
    assert refused.returncode == 2 and "rejected" in refused.stderr and "Traceback" not in refused.stderr
