"""Run store: schema, atomic transitions, per-thread connections, refusal of foreign/corrupt files."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from lesr_local.errors import BadInput
from lesr_local.store import Store, new_run_id
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


def test_candidate_lifecycle_is_atomic(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    store.add_candidate(run_id, "i0-k0", kind="search", seed=0, total_steps=100, iteration=0, sample=0,
                        code="def revise_state(s): return s", extra_dims=1)
    cand = store.get_candidate(run_id, "i0-k0")
    assert cand.status == "pending" and cand.score is None and cand.curve == []
    store.mark_running(run_id, "i0-k0")
    store.update_progress(run_id, "i0-k0", 50, [(50, 1.5)])
    cand = store.get_candidate(run_id, "i0-k0")
    assert cand.status == "running" and cand.steps_done == 50 and cand.curve == [(50, 1.5)]
    store.finish_candidate(run_id, "i0-k0", score=3.0, curve=[(50, 1.5), (100, 3.0)], lipschitz=[0.1, 0.2],
                           dim_names=["x", "extra feature 0"], steps=100, seconds=2.0, steps_per_s=50.0,
                           policy_path=None)
    cand = store.get_candidate(run_id, "i0-k0")
    assert cand.status == "finished" and cand.score == 3.0 and cand.lipschitz == [0.1, 0.2]
    assert cand.dim_names == ["x", "extra feature 0"] and cand.finished_at is not None
    # A finished candidate cannot be overwritten.
    with pytest.raises(ValueError):
        store.add_candidate(run_id, "i0-k0", kind="search", seed=0, total_steps=100)
    store.close()


def test_failed_and_requeue(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    for cid in ("a", "b"):
        store.add_candidate(run_id, cid, kind="search", seed=0, total_steps=10)
        store.mark_running(run_id, cid)
    store.fail_candidate(run_id, "a", "training worker died with SIGKILL")
    assert store.requeue_unfinished(run_id) == 1
    statuses = {c.candidate_id: (c.status, c.reason) for c in store.list_candidates(run_id)}
    assert statuses == {"a": ("failed", "training worker died with SIGKILL"), "b": ("pending", None)}
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


def test_iterations_and_summary(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    store.start_iteration(run_id, 0)
    store.finish_iteration(run_id, 0, "add velocity features", ["i0-k1"])
    [it] = store.list_iterations(run_id)
    assert it.status == "finished" and it.analysis == "add velocity features" and it.dropped == ["i0-k1"]
    store.set_run_status(run_id, "finished")
    store.set_run_summary(run_id, {"run_id": run_id, "status": "finished"}, "i0-k0", 5.0, 2.0)
    run = store.get_run(run_id)
    assert run.status == "finished" and run.finished_at is not None
    assert run.summary == {"run_id": run_id, "status": "finished"} and run.best_score == 5.0
    store.close()


def test_threads_read_while_another_writes(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(50):
                store.add_candidate(run_id, f"c{i}", kind="search", seed=0, total_steps=10)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(50):
                for cand in store.list_candidates(run_id):
                    assert cand.status == "pending"
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store.list_candidates(run_id)) == 50
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


def test_a_store_written_before_the_halving_columns_gets_them(tmp_path) -> None:
    import sqlite3

    from lesr_local.store import Store

    Store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "lesr.sqlite3")
    conn.execute("ALTER TABLE candidates DROP COLUMN stopped_at_step")
    conn.execute("ALTER TABLE candidates DROP COLUMN rung_step")
    conn.commit()
    conn.close()
    with Store(tmp_path) as store:
        store.create_run("r1", "Hopper-v5", "quick", {})
        store.add_candidate("r1", "i0-k0", kind="search", seed=0, total_steps=100, iteration=0, sample=0)
        store.pause_candidate("r1", "i0-k0", step=25, curve=[(25, 1.5)], lipschitz=None, dim_names=None, seconds=1.0)
        cand = store.get_candidate("r1", "i0-k0")
        assert cand.status == "pending" and cand.rung_step == 25 and cand.steps_done == 25 and cand.curve == [(25, 1.5)]
        store.stop_candidate("r1", "i0-k0", step=25, score=1.5, reason="stopped early at step 25")
        cand = store.get_candidate("r1", "i0-k0")
        assert cand.status == "finished" and cand.stopped_at_step == 25 and cand.score == 1.5
