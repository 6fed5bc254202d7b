"""Failure paths with real processes: a training worker killed, the whole run SIGKILLed then resumed,
Ctrl-C, an LLM that writes nothing valid, a corrupt database."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from lesr_local.store import Store
from tests.conftest import run_lesr, spawn_lesr, wait_for

SMALL = ["--env", "InvertedPendulum-v5", "--preset", "smoke", "--headless"]


def _snapshot(home: Path) -> tuple[str, dict[str, Any], list[Any]] | None:
    if not (home / "lesr.sqlite3").exists():
        return None
    with Store(home) as store:
        runs = store.list_runs()
        if not runs:
            return None
        run_id = runs[0].run_id
        return run_id, {c.training_id: c for c in store.list_trainings(run_id)}, store.list_llm_calls(run_id)


def _training_workers(root_pid: int) -> list[psutil.Process]:
    """Training subprocesses of the run: the descendants that have torch loaded (the LLM and check
    workers do not), but for the fork server they are forked from."""
    found = []
    for child in psutil.Process(root_pid).children(recursive=True):
        try:
            maps = {Path(m.path).name for m in child.memory_maps()}
            fork_server = "sandbox.zygote" in " ".join(child.cmdline())  # it trains nothing itself
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(name.startswith("libtorch_cpu") for name in maps) and not any("llama" in n for n in maps) \
                and not fork_server:
            found.append(child)
    return found


@pytest.mark.slow
def test_killed_worker_then_sigkill_and_resume(home: Path) -> None:
    """A killed training marks its candidate failed and the run goes on; after a SIGKILL of the whole
    run, `--resume` keeps every finished candidate and LLM exchange and completes the run."""
    # One worker: exactly one training process at a time, so the victim is known.
    proc = spawn_lesr(home, "run", *SMALL, "--samples", "1", "--seeds", "1", "--workers", "1", "--steps", "2000", "--json")
    try:
        # 1. kill one search candidate's training worker while it trains
        def search_training() -> Any:
            snap = _snapshot(home)
            if snap is None:
                return None
            _, cands, _ = snap
            running = [c for c in cands.values() if c.status == "running"]
            if len(running) == 1 and running[0].purpose == "search" and 0 < running[0].steps_done < 1500:
                workers = _training_workers(proc.pid)
                if len(workers) == 1:
                    return running[0].training_id, workers[0]
            return None

        victim_id, worker = wait_for("a search candidate training alone", search_training, proc)
        worker.kill()

        def victim_failed() -> Any:
            snap = _snapshot(home)
            cand = snap[1].get(victim_id) if snap else None
            return cand if cand is not None and cand.status == "failed" else None

        failed = wait_for("the killed candidate marked failed", victim_failed, proc, timeout=60)
        assert "SIGKILL" in failed.reason

        # 2. wait until iteration 2 has started and something more finished, then kill everything
        def progressed() -> Any:
            snap = _snapshot(home)
            if snap is None:
                return None
            _, cands, calls = snap
            done = [c for c in cands.values() if c.purpose == "search" and c.status == "finished"]
            return snap if done and any(c.call_key.startswith("i1-") for c in calls) else None

        wait_for("iteration 2 under way", progressed, proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    run_id, before_cands, before_calls = _snapshot(home)
    with Store(home) as store:
        assert store.get_run(run_id).status == "running"  # killed: nobody could record anything
    finished_before = {cid: (c.score, c.finished_at, c.curve) for cid, c in before_cands.items()
                       if c.status in ("finished", "failed", "rejected")}

    resumed = run_lesr("run", "--resume", run_id, "--headless", "--json", home=home, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["run_id"] == run_id and summary["status"] == "finished" and summary["iterations"] == 2
    assert "resuming run" in resumed.stderr

    _, after_cands, after_calls = _snapshot(home)
    for cid, state in finished_before.items():
        cand = after_cands[cid]
        assert (cand.score, cand.finished_at, cand.curve) == state, f"{cid} changed on resume"
    assert after_cands[victim_id].status == "failed"
    # No LLM exchange was asked again: the old ones are untouched and every key is unique.
    old = {c.call_key: (c.id, c.created_at, c.reply) for c in before_calls}
    new = {c.call_key: (c.id, c.created_at, c.reply) for c in after_calls}
    assert len(new) == len(after_calls)
    assert all(new[key] == value for key, value in old.items())
    assert summary["final"]["best"]["seeds"] == 1 and summary["final"]["baseline"]["seeds"] == 1


@pytest.mark.slow
def test_ctrl_c_saves_state_and_exits_130(home: Path) -> None:
    proc = spawn_lesr(home, "run", *SMALL)
    try:
        # The candidate is marked running just before its worker process is spawned, so wait for
        # both: a running row and a live training process under the run.
        def training() -> Any:
            snap = _snapshot(home)
            if not (snap and any(c.status == "running" for c in snap[1].values())):
                return None
            return _training_workers(proc.pid) and psutil.Process(proc.pid).children(recursive=True)

        helpers = wait_for("a training running", training, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    assert proc.returncode == 130, err[-2000:]
    run_id, cands, _ = _snapshot(home)
    assert f"--resume {run_id}" in err
    assert err.strip().splitlines()[-1].startswith("lesr: error:")
    with Store(home) as store:
        run = store.get_run(run_id)
    assert run.status == "interrupted"
    assert all(c.status != "running" for c in cands.values())  # cut-off trainings wait as pending
    time.sleep(1.0)
    assert not [p.pid for p in helpers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.slow
def test_llm_with_nothing_valid_fails_clearly(home: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "nothing.toml"
    cfg.write_text('preset = "smoke"\nsamples = 2\niterations = 1\n\n[llm]\nmax_tokens = 1\n'
                   'constrain = "off"\nrepair_attempts = 0\n')
    out = run_lesr("run", "--env", "InvertedPendulum-v5", "--config", str(cfg), "--headless", "--json",
                   home=home, timeout=300)
    assert out.returncode == 3, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("lesr: error:") and "none of the 2 samples gave a valid candidate" in last
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed" and summary["candidates"] == {"rejected": 2}
    with Store(home) as store:
        run = store.get_run(summary["run_id"])
        assert run.status == "failed" and "valid candidate" in run.reason
        assert len(store.list_llm_calls(run.run_id)) == 2


def test_corrupt_database_is_refused_untouched(home: Path) -> None:
    db = home / "lesr.sqlite3"
    junk = os.urandom(8192)
    db.write_bytes(junk)
    for args in (("run", *SMALL), ("history",), ("show", "20260101-000000-abcd")):
        out = run_lesr(*args, home=home, timeout=120)
        assert out.returncode == 2, (args, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and str(db) in lines[0], out.stderr
    assert db.read_bytes() == junk
    assert sorted(p.name for p in home.iterdir()) == ["lesr.sqlite3"]
