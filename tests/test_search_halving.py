"""The search engine with a replay LLM (stored candidate code) and the real executor, MuJoCo, SQLite:
successive halving, rung resumes, re-evaluation before choosing, duplicate-code rejection, and a final
seed that fails in one arm, and a stop right after the first rung followed by a resume. Tiny trainings
(InvertedPendulum, 32-32 MLPs, 1.6k steps)."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from lesr_local import events as ev
from lesr_local.commands.show import run_detail
from lesr_local.config import EvalConfig, LLMConfig, RunConfig, TD3Config
from lesr_local.errors import Interrupted
from lesr_local.search.engine import SearchEngine
from lesr_local.search.halving import Rung, halving_steps, rung_schedule
from lesr_local.search.replay import replay_factory
from lesr_local.store import Store
from lesr_local.trainings.executors import LocalProcessExecutor

pytestmark = pytest.mark.slow

STEPS, FINAL_STEPS, WARMUP, EVERY, LAST_K = 1600, 600, 200, 100, 2
FAILING_FINAL_SEED = 2  # its raw-state final training is made to fail (see FailOneFinalBaseline)


def _module(feature: str, reward: str) -> str:
    return (f"import numpy as np\n\n\ndef revise_state(s):\n    f1 = {feature}\n"
            f"    return np.concatenate([s, np.array([f1])])\n\n\n"
            f"def intrinsic_reward(updated_s):\n    return float(np.clip({reward}, -10, 10))\n")


CODES = [
    _module("s[1] * s[3]", "-abs(updated_s[4])"),
    _module("abs(s[1])", "-updated_s[4]"),
    _module("s[0] + s[2]", "-abs(updated_s[4]) * 0.5"),
    _module("s[3] ** 2", "-updated_s[4] * 0.1"),
]
CODES_IT1 = [
    _module("s[1] - s[3]", "-abs(updated_s[4])"),
    _module("s[2] * s[2]", "-updated_s[4]"),
    _module("np.tanh(s[1])", "-abs(updated_s[4])"),
    _module("s[0] * s[1]", "-abs(updated_s[4]) * 0.2"),
]
# iteration 1 first repeats i0-k0's module (rejected as a duplicate), its repair gets CODES_IT1[0]
REPLAY = [*CODES, CODES[0], *CODES_IT1]

BROKEN = _module("s[99]", "updated_s[4]")  # IndexError on the first state: a real training failure


class FailOneFinalBaseline(LocalProcessExecutor):
    """The real executor; the raw-state final training of one seed is given code that crashes."""

    def submit(self, spec: Any, *args: Any, **kwargs: Any) -> Any:
        if spec.candidate_source is None and spec.steps == FINAL_STEPS and spec.seed == FAILING_FINAL_SEED:
            spec = replace(spec, candidate_source=BROKEN)
        return super().submit(spec, *args, **kwargs)


def _config() -> RunConfig:
    return RunConfig(
        env_id="InvertedPendulum-v5", preset="smoke", samples=4, iterations=2, steps=STEPS, final_steps=FINAL_STEPS,
        seeds=3, workers=2, seed=0, render_video=False, prune="halving", select_seeds=1,
        td3=TD3Config(hidden_sizes=(32, 32), start_steps=WARMUP, batch_size=32),
        eval=EvalConfig(every=EVERY, episodes=2, last_k=LAST_K, goal_episodes=2),
        llm=LLMConfig(repair_attempts=1, analysis_max_tokens=60),
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One search, stopped (like Ctrl-C) as soon as the first candidate reaches its first rung, then resumed."""
    home = tmp_path_factory.mktemp("halving-home")
    events: list[ev.Event] = []
    lock = threading.Lock()
    cancel = threading.Event()

    def sink(event: ev.Event) -> None:
        with lock:
            events.append(event)
        if isinstance(event, ev.TrainingPaused):
            cancel.set()

    store = Store(home)
    first = SearchEngine(store, sink, cancel, executor_factory=FailOneFinalBaseline,
                         llm_client_factory=replay_factory(REPLAY))
    with pytest.raises(Interrupted):
        first.start(_config())
    [record] = store.list_runs()
    stopped_at = len(events)
    paused_before_stop = {e.training_id for e in events if isinstance(e, ev.TrainingPaused)}
    # the replay goes on where the stored exchanges end (a resumed run answers those from the store)
    served = len([c for c in store.list_llm_calls(record.run_id) if c.purpose != "analysis"])
    resumed = SearchEngine(store, sink, executor_factory=FailOneFinalBaseline,
                           llm_client_factory=replay_factory(REPLAY[served:]))
    summary = resumed.resume(record.run_id).to_dict()
    views = store.candidate_views(summary["run_id"])
    # the search training of every accepted candidate, by candidate id, and every training by its id
    cands = {v.candidate_id: v.training for v in views if v.training is not None}
    iteration = {v.candidate_id: v.iteration for v in views}
    trainings = {t.training_id: t for t in store.list_trainings(summary["run_id"])}
    code = {v.candidate_id: v.code for v in views}
    calls = {c.call_key: c for c in store.list_llm_calls(summary["run_id"])}
    detail = run_detail(store, summary["run_id"])
    store.close()
    return {"summary": summary, "cands": cands, "iteration": iteration, "trainings": trainings, "code": code,
            "calls": calls, "events": events, "detail": detail,
            "status_after_stop": record.status, "stopped_at": stopped_at, "paused_before_stop": paused_before_stop}


def _rung_score(curve: list[tuple[int, float]], step: int) -> float:
    return float(np.mean([v for s, v in curve if WARMUP < s <= step][-LAST_K:]))


def test_schedule_of_this_run() -> None:
    # a rung needs LAST_K evaluations after the warm-up (steps 300 and 400), as many as the search score
    assert rung_schedule(STEPS, 4, WARMUP, EVERY, last_k=LAST_K) == [Rung(400, 2), Rung(800, 1)]
    assert rung_schedule(STEPS, 4, WARMUP, 200, last_k=LAST_K) == [Rung(800, 1)]  # 400 would rest on one


def test_pruning_order_per_iteration(run: dict[str, Any]) -> None:
    cands = run["cands"]
    for it in (0, 1):
        mine = [c for cid, c in cands.items() if run["iteration"][cid] == it]
        assert len(mine) == 4 and all(c.status == "finished" for c in mine)
        stops = sorted(c.stopped_at_step or STEPS for c in mine)
        assert stops == [400, 400, 800, STEPS]
        for rung in (400, 800):
            cut = [c for c in mine if c.stopped_at_step == rung]
            went_on = [c for c in mine if (c.stopped_at_step or STEPS) > rung]
            for loser in cut:
                # compared only with its own iteration, at the same step, on the rung score
                assert loser.score == pytest.approx(_rung_score(loser.curve, rung))
                assert all(_rung_score(loser.curve, rung) <= _rung_score(w.curve, rung) for w in went_on)
                assert loser.steps_done == rung and f"stopped early at step {rung}" in loser.reason
        full = [c for c in mine if c.stopped_at_step is None]
        assert len(full) == 1 and full[0].steps_done == STEPS


def test_rungs_resume_and_no_step_is_trained_twice(run: dict[str, Any]) -> None:
    cands, events = run["cands"], run["events"]
    assert run["status_after_stop"] == "interrupted" and run["summary"]["status"] == "finished"
    paused = [e for e in events if isinstance(e, ev.TrainingPaused)]
    assert run["paused_before_stop"] and sorted({(e.training_id, e.step) for e in paused}) == sorted(
        {(c.training_id, r) for c in cands.values() if c.status == "finished"
         for r in (400, 800) if (c.stopped_at_step or STEPS) >= r})
    for pause in paused:
        # once at a rung, a candidate continues from there, also across the stop and the resume
        later = [e.step for e in events[events.index(pause) + 1:]
                 if isinstance(e, ev.TrainingProgress) and e.training_id == pause.training_id]
        assert all(step > pause.step for step in later), (pause, later)
    for cid in run["paused_before_stop"]:  # reached its rung before the stop: nothing below it again
        later = [e.step for e in events[run["stopped_at"]:]
                 if isinstance(e, ev.TrainingProgress) and e.training_id == cid]
        assert all(step > 400 for step in later), (cid, later)
    for cand in cands.values():
        if cand.status == "finished":
            end = cand.stopped_at_step or STEPS
            assert [s for s, _ in cand.curve] == list(range(EVERY, end + 1, EVERY))
    s = run["summary"]
    per_iteration = halving_steps(STEPS, [Rung(400, 2), Rung(800, 1)], 4)
    assert per_iteration == 4 * 400 + 2 * 400 + 1 * 800
    assert s["search_env_steps"] == 2 * per_iteration + STEPS  # + the raw-state control
    assert s["pruning"] == {"mode": "halving", "stopped_candidates": 6,
                            "saved_candidate_steps": 2 * (2 * (STEPS - 400) + (STEPS - 800))}


def test_best_is_chosen_on_fresh_seeds_over_all_iterations(run: dict[str, Any]) -> None:
    cands, trainings, s = run["cands"], run["trainings"], run["summary"]
    finalists = sorted(cid for cid, c in cands.items() if c.status == "finished" and c.stopped_at_step is None)
    assert [c[:3] for c in finalists] == ["i0-", "i1-"]  # one survivor per iteration
    selection = {t.candidate_id: t for t in trainings.values() if t.purpose == "selection" and not t.is_raw}
    assert sorted(selection) == finalists
    # fresh seeds, clear of the search seed and of every final seed (also ones added later)
    assert all(t.seed == 1000 and t.status == "finished" for t in selection.values())
    assert trainings["select-raw-s1000"].status == "finished"
    chosen = max(finalists, key=lambda cid: selection[cid].score)
    assert s["best"]["candidate_id"] == chosen and s["best"]["selection_mean"] == selection[chosen].score
    assert {t.candidate_id for t in trainings.values() if t.purpose == "final" and not t.is_raw} == {chosen}
    assert s["selection_env_steps"] == 3 * STEPS


def test_duplicate_code_is_rejected_and_repaired(run: dict[str, Any]) -> None:
    calls = run["calls"]
    assert "same code as candidate i0-k0" in calls["i1-k0-a0"].parsed["reason"]
    assert calls["i1-k0-a1"].parsed["valid"] is True
    assert run["code"]["i1-k0"].strip() == CODES_IT1[0].strip()
    # the next prompt told the model which candidates were stopped early, and where
    prompt = calls["i1-k0-a0"].prompt
    assert "stopped early" in prompt and "at step 400" in prompt


def test_a_final_seed_failing_in_one_arm_is_excluded_from_both(run: dict[str, Any]) -> None:
    s = run["summary"]
    final = s["final"]
    assert final["paired_seeds"] == [1, 3]
    [gone] = final["excluded_seeds"]
    assert gone["seed"] == FAILING_FINAL_SEED and gone["missing"] == ["baseline"]
    assert "IndexError" in gone["reason"]
    assert run["trainings"]["final-best-s2"].status == "finished"  # finished, yet left out of the comparison
    for arm in ("best", "raw"):
        assert [p["seed"] for p in final[arm]["per_seed"]] == [1, 3]
    assert "1 seed failed in an arm and is excluded" in s["verdict"]
    assert s["total_env_steps"] == s["search_env_steps"] + s["selection_env_steps"] + s["final_env_steps"]


def test_show_reports_where_candidates_stopped(run: dict[str, Any]) -> None:
    rows = {c["candidate_id"]: c for c in run["detail"]["candidates"]}
    stopped = [r for r in rows.values() if r["stopped_at_step"] is not None]
    assert len(stopped) == 6 and {r["stopped_at_step"] for r in stopped} == {400, 800}
    assert run["detail"]["config"]["prune"] == "halving"
