"""Summary, reporter, history/show/export/plot on a run written straight into a real store (fast)."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import re
from pathlib import Path

import pytest
from rich.console import Console

from lesr_local import events as ev
from lesr_local.search.reporter import HeadlessReporter
from lesr_local.search.summary import build_summary
from lesr_local.store import Store, new_run_id
from tests.helpers_runs import PENDULUM_CANDIDATE as CODE
from tests.helpers_runs import record_training


def _finished_run(home: Path, *, final: bool = True) -> str:
    store = Store(home)
    run_id = new_run_id()
    store.create_run(run_id, "InvertedPendulum-v5", "smoke", {"env_id": "InvertedPendulum-v5", "final_steps": 100})
    dims = ["cart position", "pole angle", "cart velocity", "pole angular velocity"]
    rows = [  # (training id, purpose, arm, candidate, seed, score); None: the worker was killed
        ("control", "control", "raw", None, 0, 5.0),
        ("i0-k0", "search", "candidate", "i0-k0", 0, 8.0),
        ("i0-k1", "search", "candidate", "i0-k1", 0, None),
        ("final-best-s0", "final", "candidate", "i0-k0", 0, 9.0),
        ("final-best-s1", "final", "candidate", "i0-k0", 1, 11.0),
        ("final-raw-s0", "final", "raw", None, 0, 4.0),
        ("final-raw-s1", "final", "raw", None, 1, 6.0),
    ]
    for cid in ("i0-k0", "i0-k1"):
        store.add_candidate(run_id, cid, iteration=0, sample=int(cid[-1]), code=CODE, extra_dims=1)
    store.add_candidate(run_id, "i0-k2", iteration=0, sample=2, code="", status="rejected",
                        reason="no def revise_state in the reply")
    for tid, purpose, arm, candidate, seed, score in rows:
        if purpose == "final" and not final:
            continue
        lip = [0.1, 0.5, 0.2, 0.3] + ([0.9] if candidate else [])
        record_training(store, run_id, tid, purpose=purpose, arm=arm, candidate_id=candidate, seed=seed, steps=100,
                        status="failed" if score is None else "finished", score=score,
                        curve=None if score is None else [(50, score / 2), (100, score)], lipschitz=lip,
                        dim_names=dims + (["extra feature 0"] if candidate else []),
                        reason="training worker died with SIGKILL")
    store.record_llm_call(run_id, "i0-k0-a0", purpose="candidate", iteration=0, sample=0, attempt=0, prompt="p",
                          reply=CODE, prompt_tokens=10, completion_tokens=60, seconds=1.5, finish_reason="stop")
    store.start_iteration(run_id, 0)
    store.finish_iteration(run_id, 0, None, [])
    store.set_run_best(run_id, "i0-k0", 8.0, 5.0)
    summary = build_summary(store, run_id, status="finished")
    store.end_run(run_id, "finished", None, summary.to_dict(), "i0-k0", 8.0, 5.0)
    store.close()
    return run_id


def test_summary_fields(tmp_path: Path) -> None:
    run_id = _finished_run(tmp_path)
    with Store(tmp_path) as store:
        s = build_summary(store, run_id).to_dict()
    assert s["run_id"] == run_id and s["status"] == "finished" and s["iterations"] == 1
    assert s["best"]["candidate_id"] == "i0-k0" and s["best"]["score"] == 8.0
    assert s["baseline"]["score"] == 5.0
    best = s["final"]["best"]
    assert best["mean"] == 10.0 and best["std"] == pytest.approx(math.sqrt(2.0)) and best["seeds"] == 2
    assert best["iqm"] == 10.0
    # curves (50, score / 2), (100, score): average value 0.75 * score
    assert best["per_seed"] == [{"seed": 0, "score": 9.0, "auc": 6.75}, {"seed": 1, "score": 11.0, "auc": 8.25}]
    assert best["auc"] == pytest.approx(7.5)
    assert s["final"]["baseline"]["mean"] == 5.0
    # paired differences 5 and 5: difference 5, interval [5, 5]; baseline 5 = 5 standard errors from 0
    assert s["final"]["improvement"] == 5.0 and s["final"]["improvement_ci95"] == [5.0, 5.0]
    assert s["final"]["improvement_relative"] == pytest.approx(1.0)
    assert s["final"]["verdict"] == "better" and s["final"]["excluded_seeds"] == []
    assert s["verdict"].startswith("better") and "2 paired seeds" in s["verdict"] and "preliminary" in s["verdict"]
    assert s["headline"]["kind"] == "final" and s["headline"]["best"] == 10.0
    # search: baseline 100 + i0-k0 100 + the failed one's steps reached (0); final: 4 x 100
    assert s["search_env_steps"] == 200 and s["selection_env_steps"] == 0 and s["final_env_steps"] == 400
    assert s["total_env_steps"] == 600
    assert s["candidates"] == {"finished": 1, "failed": 1, "rejected": 1}
    assert s["llm"]["calls"] == 1


def test_a_final_seed_failing_in_one_arm_leaves_both(tmp_path: Path) -> None:
    run_id = _finished_run(tmp_path)
    with Store(tmp_path) as store:
        record_training(store, run_id, "final-best-s2", purpose="final", candidate_id="i0-k0", seed=2, steps=100,
                        score=30.0, curve=[(100, 30.0)])
        record_training(store, run_id, "final-raw-s2", purpose="final", arm="raw", seed=2, steps=100,
                        status="failed", reason="training worker died with SIGKILL")
        s = build_summary(store, run_id).to_dict()
    final = s["final"]
    assert final["paired_seeds"] == [0, 1]
    assert final["excluded_seeds"] == [
        {"seed": 2, "missing": ["baseline"], "reason": "baseline: training worker died with SIGKILL"}]
    assert final["best"]["mean"] == 10.0 and final["best"]["seeds"] == 2  # the 30.0 of seed 2 is out
    assert "1 seed failed in an arm and is excluded" in s["verdict"]


def test_headline_is_the_search_score_before_the_final_evaluation(tmp_path: Path) -> None:
    run_id = _finished_run(tmp_path, final=False)
    with Store(tmp_path) as store:
        s = build_summary(store, run_id).to_dict()
    assert s["final"] is None and s["verdict"] is None
    assert s["headline"] == {"kind": "search", "best": 8.0, "baseline": 5.0, "improvement": None,
                             "improvement_relative": None, "verdict": None, "seeds": 1}


def test_history_show_export_plot(tmp_path: Path, lesr) -> None:
    run_id = _finished_run(tmp_path)
    out = lesr("history", "--json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    [row] = json.loads(out.stdout)
    assert row["run_id"] == run_id and row["env"] == "InvertedPendulum-v5" and row["status"] == "finished"
    assert row["best_score"] == 8.0 and row["created"].endswith("Z")
    # the headline is the paired final comparison (10 vs 5), not the best search score (8)
    assert row["headline_kind"] == "final" and row["headline_score"] == 10.0 and row["improvement"] == 5.0
    assert row["verdict"] == "better"

    out = lesr("show", run_id, "--json", "--plot", str(tmp_path / "run.png"), home=tmp_path)
    assert out.returncode == 0, out.stderr
    detail = json.loads(out.stdout)
    by_id = {c["candidate_id"]: c for c in detail["candidates"]}
    assert by_id["i0-k1"]["status"] == "failed" and "SIGKILL" in by_id["i0-k1"]["reason"]
    assert by_id["i0-k2"]["status"] == "rejected"
    assert by_id["i0-k0"]["lipschitz"] == [0.1, 0.5, 0.2, 0.3, 0.9]
    assert detail["llm_calls"][0]["call_key"] == "i0-k0-a0"
    assert detail["config"]["env_id"] == "InvertedPendulum-v5"
    png = tmp_path / "run.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"

    text = lesr("show", run_id, home=tmp_path)
    assert text.returncode == 0 and "i0-k0" in text.stdout and "verdict: better" in text.stdout
    assert "final 10.0 vs baseline 5.0: +5 (+100.0%), better, 2 seeds" in text.stdout

    module = tmp_path / "best_features.py"
    out = lesr("export", run_id, "--out", str(module), home=tmp_path)
    assert out.returncode == 0, out.stderr
    source = module.read_text()
    assert run_id in source and "InvertedPendulum-v5" in source and "score: 8.0000" in source
    spec = importlib.util.spec_from_file_location("best_features", module)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import numpy as np

    assert mod.revise_state(np.ones(4)).shape == (5,)


def test_unknown_run_id_exits_2(tmp_path: Path, lesr) -> None:
    Store(tmp_path).close()
    for args in (("show", "nope"), ("export", "nope", "--out", str(tmp_path / "x.py"))):
        out = lesr(*args, home=tmp_path)
        assert out.returncode == 2, out.stderr
        assert out.stderr.count("\n") == 1 and "nope" in out.stderr


def test_reporter_renders_events_and_table(tmp_path: Path) -> None:
    run_id = _finished_run(tmp_path)
    buf = io.StringIO()
    reporter = HeadlessReporter(Console(file=buf, width=150, force_terminal=False), progress_interval=0.0)
    events = [
        ev.RunStarted(run_id, env_id="InvertedPendulum-v5", config={"preset": "smoke", "samples": 2}),
        ev.LLMFinished(run_id, purpose="candidate", iteration=0, sample=0, prompt_tokens=5, completion_tokens=40,
                       seconds=1.0, tokens_per_s=40.0),
        ev.CandidateAccepted(run_id, candidate_id="i0-k0", iteration=0, sample=0, extra_dims=1),
        ev.TrainingProgress(run_id, training_id="i0-k0", step=50, total_steps=100, steps_per_s=25.0, eta_s=2.0),
        ev.TrainingFinished(run_id, training_id="i0-k0", status="finished", score=8.0, lipschitz=[0.1]),
    ]
    for event in events:
        reporter(event)
    with Store(tmp_path) as store:
        run = store.get_run(run_id)
        reporter.print_summary(run.summary, store.candidate_views(run_id))
    text = buf.getvalue()
    assert "40.0 tok/s" in text and "ETA 2s" in text and "accepted" in text
    assert "difference +5 (+100.0%); 95% CI bootstrap [+5, +5], t [+5, +5]: better" in text
    assert "final 10.0 vs baseline 5.0: +5 (+100.0%), better, 2 seeds" in text


def test_reporter_live_bars_at_a_terminal() -> None:
    buf = io.StringIO()
    reporter = HeadlessReporter(Console(file=buf, width=120, force_terminal=True))
    assert reporter.live
    run_id = "20260101-000000-abcd"
    for event in [
        ev.LLMStarted(run_id, purpose="candidate", iteration=0, sample=0, prompt_tokens=12),
        ev.LLMToken(run_id, purpose="candidate", iteration=0, sample=0, text="def"),
        ev.LLMFinished(run_id, purpose="candidate", iteration=0, sample=0, prompt_tokens=12, completion_tokens=1,
                       seconds=0.1, tokens_per_s=10.0),
        ev.TrainingStarted(run_id, training_id="i0-k0", total_steps=100, seed=0),
        ev.TrainingProgress(run_id, training_id="i0-k0", step=40, total_steps=100, steps_per_s=20.0, eta_s=3.0),
        ev.TrainingFinished(run_id, training_id="i0-k0", status="failed", score=None, lipschitz=None,
                            reason="training worker died with SIGKILL"),
    ]:
        reporter(event)
    reporter.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    assert "10.0 tok/s" in text and "SIGKILL" in text
