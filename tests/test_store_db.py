"""Run store: schema, atomic transitions, per-thread connections, refusal of foreign/corrupt files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lesr_local.errors import BadInput
from lesr_local.procs import process_started
from lesr_local.store import NewTraining, Store, new_run_id
from lesr_local.store.files import atomic_write_text
from lesr_local.store.ids import looks_like_run_id


def _store_with_run(home: Path) -> tuple[Store, str]:
    store = Store(home)
    run_id = new_run_id()
    store.create_run(run_id, "InvertedPendulum-v5", "smoke", {"env_id": "InvertedPendulum-v5", "samples": 2})
    return store, run_id


def test_creates_wal_database_and_run_folder(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    assert (tmp_path / "lesr.sqlite3").is_file()
    assert store.ensure_run_dir(run_id).is_dir()
    mode = sqlite3.connect(tmp_path / "lesr.sqlite3").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    run = store.get_run(run_id)
    assert run.status == "running" and run.env_id == "InvertedPendulum-v5"
    assert run.config["samples"] == 2
    assert [r.run_id for r in store.list_runs()] == [run_id]
    store.close()
    # Reopening an existing store keeps its data.
    again = Store(tmp_path)
    assert again.get_run(run_id).preset == "smoke"
    again.close()


def test_run_ids_are_sortable_and_readable() -> None:
    a = new_run_id(now=1_700_000_000)
    b = new_run_id(now=1_700_000_100)
    assert looks_like_run_id(a) and looks_like_run_id(b)
    assert a < b
    assert a.startswith("20231114-")


def test_unknown_run_is_bad_input(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with pytest.raises(BadInput, match="unknown run id"):
        store.get_run("nope")
    store.close()


def _training(tid: str = "i0-k0", **changes: object) -> NewTraining:
    fields = dict(training_id=tid, purpose="search", arm="candidate", candidate_id=tid, seed=0, total_steps=100,
                  key=f"key-{tid}", lineage=f"lineage-{tid}", shaping="additive", intrinsic_weight=0.02)
    fields.update(changes)
    return NewTraining(**fields)  # type: ignore[arg-type]


def test_training_lifecycle_is_atomic(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    store.add_candidate(run_id, "i0-k0", iteration=0, sample=0, code="def revise_state(s): return s", extra_dims=1)
    store.add_training(run_id, _training(checkpoint_dir=tmp_path / "runs" / run_id / "checkpoints" / "i0-k0"))
    t = store.get_training(run_id, "i0-k0")
    assert t.status == "pending" and t.score is None and t.curve == [] and t.candidate_id == "i0-k0"
    assert t.checkpoint_dir == str(tmp_path / "runs" / run_id / "checkpoints" / "i0-k0")
    store.mark_training_running(run_id, "i0-k0")
    store.update_training_progress(run_id, "i0-k0", 50, [(50, 1.5)])
    t = store.get_training(run_id, "i0-k0")
    assert t.status == "running" and t.steps_done == 50 and t.curve == [(50, 1.5)]
    store.finish_training(run_id, "i0-k0", score=3.0, curve=[(50, 1.5), (100, 3.0)], lipschitz=[0.1, 0.2],
                          dim_names=["x", "extra feature 0"], steps=100, seconds=2.0, steps_per_s=50.0,
                          policy_path=None, walls=["seccomp"], numerics="torch=x")
    t = store.get_training(run_id, "i0-k0")
    assert t.status == "finished" and t.score == 3.0 and t.lipschitz == [0.1, 0.2] and t.walls == ["seccomp"]
    assert t.dim_names == ["x", "extra feature 0"] and t.finished_at is not None and t.env_steps == 100
    # Asking for it again keeps the finished row as it is.
    store.add_training(run_id, _training())
    assert store.get_training(run_id, "i0-k0").status == "finished"
    [view] = store.candidate_views(run_id)
    assert view.status == "finished" and view.score == 3.0
    store.close()


def test_paths_are_kept_relative_to_the_home_so_it_can_move(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path / "a")
    folder = store.ensure_run_dir(run_id)
    store.add_candidate(run_id, "i0-k0", code="x", code_path=folder / "candidates" / "i0-k0.py")
    store.close()
    raw = sqlite3.connect(tmp_path / "a" / "lesr.sqlite3").execute("SELECT code_path FROM candidates").fetchone()[0]
    assert raw == f"runs/{run_id}/candidates/i0-k0.py"
    (tmp_path / "a").rename(tmp_path / "b")
    with Store(tmp_path / "b") as moved:
        assert moved.get_candidate(run_id, "i0-k0").code_path == str(tmp_path / "b" / "runs" / run_id /
                                                                    "candidates" / "i0-k0.py")


def test_failed_and_requeue(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    for tid in ("a", "b"):
        store.add_training(run_id, _training(tid))
        store.mark_training_running(run_id, tid)
    store.fail_training(run_id, "a", "training worker died with SIGKILL", failure="infrastructure")
    assert store.requeue_unfinished(run_id) == 1
    statuses = {t.training_id: (t.status, t.reason, t.failure) for t in store.list_trainings(run_id)}
    assert statuses == {"a": ("failed", "training worker died with SIGKILL", "infrastructure"),
                        "b": ("pending", None, None)}
    store.close()


def test_a_second_driver_of_a_running_run_is_refused_atomically(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    store.claim_run(run_id)  # this process drives it
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = process_started(holder.pid)
        with sqlite3.connect(tmp_path / "lesr.sqlite3") as conn:
            conn.execute("UPDATE runs SET owner_pid = ?, owner_started = ?", (holder.pid, started))
        with pytest.raises(BadInput, match=f"driven by process {holder.pid}"):
            store.claim_run(run_id)
        # a pid reused by another process does not hold the run
        with sqlite3.connect(tmp_path / "lesr.sqlite3") as conn:
            conn.execute("UPDATE runs SET owner_started = ?", ((started or 0) - 100,))
        store.claim_run(run_id)
        assert store.get_run(run_id).owner_pid == os.getpid()
    finally:
        holder.kill()
        holder.wait()
    store.close()


def test_concurrent_claims_let_exactly_one_driver_in(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    with sqlite3.connect(tmp_path / "lesr.sqlite3") as conn:
        conn.execute("UPDATE runs SET status = 'interrupted', owner_pid = NULL")
    store.close()
    script = ("import sys, time; from lesr_local.store import Store; s = Store(sys.argv[1]);"
              "t = float(sys.argv[3]);\nwhile time.time() < t: pass\n"
              "try:\n s.claim_run(sys.argv[2]); print('claimed'); time.sleep(3)\n"
              "except Exception as e: print('refused')")
    at = str(time.time() + 2.0)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), run_id, at], stdout=subprocess.PIPE,
                              text=True, env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])))
             for _ in range(3)]
    outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outcomes == ["claimed", "refused", "refused"]


def test_a_run_ends_together_with_its_summary(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    store.end_run(run_id, "finished", None, {"run_id": run_id, "status": "finished"}, "i0-k0", 5.0, 2.0)
    run = store.get_run(run_id)
    assert run.status == "finished" and run.finished_at is not None and run.summary["status"] == "finished"
    assert run.best_score == 5.0 and run.control_score == 2.0
    store.close()


def test_llm_calls_are_recorded_once(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    rec = store.record_llm_call(run_id, "i0-k0-a0", purpose="candidate", iteration=0, sample=0, attempt=0,
                                prompt="p", reply="r", prompt_tokens=3, completion_tokens=1, seconds=0.5,
                                finish_reason="stop")
    assert store.find_llm_call(run_id, "i0-k0-a0") == rec
    with pytest.raises(sqlite3.IntegrityError):
        store.record_llm_call(run_id, "i0-k0-a0", purpose="candidate", iteration=0, sample=0, attempt=0,
                              prompt="p", reply="r2", prompt_tokens=3, completion_tokens=1, seconds=0.5,
                              finish_reason="stop")
    assert [c.reply for c in store.list_llm_calls(run_id)] == ["r"]
    store.close()


def test_iterations_keep_their_first_prompt(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    store.start_iteration(run_id, 0, "the first prompt")
    assert store.start_iteration(run_id, 0, "a later prompt").prompt == "the first prompt"
    store.finish_iteration(run_id, 0, "add velocity features", ["i0-k1"])
    [it] = store.list_iterations(run_id)
    assert it.status == "finished" and it.analysis == "add velocity features" and it.dropped == ["i0-k1"]
    assert it.prompt == "the first prompt"
    store.close()


def test_threads_read_while_another_writes(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(50):
                store.add_training(run_id, _training(f"c{i}"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(50):
                for training in store.list_trainings(run_id):
                    assert training.status == "pending"
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store.list_trainings(run_id)) == 50
    store.close()


def test_corrupt_file_is_refused_and_untouched(tmp_path: Path) -> None:
    db = tmp_path / "lesr.sqlite3"
    junk = bytes(range(256)) * 64
    db.write_bytes(junk)
    with pytest.raises(BadInput) as info:
        Store(tmp_path)
    assert str(db) in str(info.value)
    assert db.read_bytes() == junk
    assert not (tmp_path / "lesr.sqlite3-wal").exists()


def test_foreign_sqlite_is_refused_and_untouched(tmp_path: Path) -> None:
    db = tmp_path / "lesr.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE songs (title TEXT)")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(BadInput, match="not a lesr-local run store"):
        Store(tmp_path)
    assert db.read_bytes() == before


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "lesr.sqlite3")
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(BadInput, match="schema version 99"):
        Store(tmp_path)


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "mod.py"
    atomic_write_text(target, "a = 1\n")
    atomic_write_text(target, "a = 2\n")
    assert target.read_text() == "a = 2\n"
    assert [p.name for p in target.parent.iterdir()] == ["mod.py"]


def test_halving_pause_and_stop(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.create_run("r1", "Hopper-v5", "quick", {})
        store.add_training("r1", _training())
        store.pause_training("r1", "i0-k0", step=25, curve=[(25, 1.5)], lipschitz=None, dim_names=None, seconds=1.0)
        t = store.get_training("r1", "i0-k0")
        assert t.status == "pending" and t.rung_step == 25 and t.steps_done == 25 and t.curve == [(25, 1.5)]
        store.stop_training("r1", "i0-k0", step=25, score=1.5, reason="stopped early at step 25")
        t = store.get_training("r1", "i0-k0")
        assert t.status == "finished" and t.stopped_at_step == 25 and t.score == 1.5 and t.env_steps == 25
