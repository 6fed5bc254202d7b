"""A home written by the previous release (schema v1, tests/data/stores/) opens, shows and resumes as before."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lesr_local.sandbox.tensorfile import read_state
from lesr_local.store import Store
from lesr_local.store.migrate import BACKUP_SUFFIX
from tests.conftest import run_lesr

DATA = Path(__file__).parent / "data" / "stores"
FINISHED = "20261207-063000-eloa"
KILLED = "20261207-075212-vm5r"


@pytest.fixture
def old_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(DATA / "v1", home)
    return home


def _shown(name: str) -> dict[str, Any]:
    return json.loads((DATA / "v1-shown" / f"show-{name}.json").read_text())


def test_migration_keeps_every_record_and_a_backup(old_home: Path) -> None:
    before = sqlite3.connect(old_home / "lesr.sqlite3")
    v1_rows = before.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]
    v1_ablations = before.execute("SELECT COUNT(*) FROM ablations").fetchone()[0]
    v1_transfers = before.execute("SELECT COUNT(*) FROM transfers").fetchone()[0]
    before.close()
    with Store(old_home) as store:
        assert {r.run_id for r in store.list_runs()} == {FINISHED, KILLED}
        trainings = store.list_trainings(FINISHED)
        by_purpose: dict[str, int] = {}
        for t in trainings:
            by_purpose[t.purpose] = by_purpose.get(t.purpose, 0) + 1
        assert by_purpose == {"control": 1, "search": 6, "selection": 3, "final": 4, "ablation": 4, "transfer": 2}
        killed = store.list_trainings(KILLED)
        assert len(trainings) + len(killed) == v1_rows + v1_ablations + v1_transfers
        assert [c.candidate_id for c in store.list_candidates(FINISHED)] == [
            "i0-k0", "i0-k1", "i0-k2", "i1-k0", "i1-k1", "i1-k2"]
        # every policy and checkpoint path points at the moved home
        for t in trainings + killed:
            if t.policy_path:
                assert Path(t.policy_path).is_file(), t
            assert t.key.startswith("legacy:")  # nothing says which trainer made it: never reused
        final_raw = next(t for t in trainings if t.training_id == "final-baseline-s1")
        assert final_raw.purpose == "final" and final_raw.is_raw and final_raw.shaping is None
    backup = sqlite3.connect(old_home / ("lesr.sqlite3" + BACKUP_SUFFIX))
    assert backup.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
    assert backup.execute("SELECT COUNT(*) FROM candidates").fetchone()[0] == v1_rows


def test_show_and_history_read_as_before(old_home: Path) -> None:
    old = _shown(FINISHED)
    proc = run_lesr("show", FINISHED, "--json", home=old_home)
    assert proc.returncode == 0, proc.stderr
    new = json.loads(proc.stdout)
    for key in ("status", "best_candidate_id", "best_score", "baseline_score", "config", "headline", "summary",
                "shaping", "iterations"):
        assert new[key] == old[key], key
    old_search = {c["candidate_id"]: c for c in old["candidates"] if c["kind"] == "search"}
    for cand in new["candidates"]:
        before = old_search[cand["candidate_id"]]
        for key in ("status", "score", "lipschitz", "iteration", "stopped_at_step", "curve", "code"):
            assert cand[key] == before[key], (cand["candidate_id"], key)
    old_trainings = {c["candidate_id"]: c for c in old["candidates"]}
    for t in new["trainings"]:
        if t["purpose"] in ("ablation", "transfer"):
            continue
        before = old_trainings[t["training_id"]]
        assert (t["kind"], t["status"], t["score"], t["curve"]) == (
            before["kind"], before["status"], before["score"], before["curve"]), t["training_id"]
    [ablation] = new["ablations"]
    [old_ablation] = old["ablations"]
    assert ablation["variants"][0]["per_seed"][0]["score"] == old_ablation["variants"][0]["per_seed"][0]["score"]
    for mine, theirs in zip(ablation["differences_from_raw"], old_ablation["differences_from_raw"], strict=True):
        for key in ("variant", "seeds", "mean_difference", "ci95", "ci95_t", "relative"):
            assert mine[key] == pytest.approx(theirs[key]), key
    [transfer] = new["transfers"]
    [old_transfer] = old["transfers"]
    for key in ("transfer_id", "algo", "steps", "seeds", "status", "improvement", "source_candidate_id"):
        assert transfer[key] == old_transfer[key], key
    assert transfer["shaping"] == "additive"  # what v1 transfers trained, whatever the run's shaping
    history = run_lesr("history", "--json", home=old_home)
    old_history = json.loads((DATA / "v1-shown" / "history-v1.json").read_text())
    assert [(r["run_id"], r["status"], r["headline"]) for r in json.loads(history.stdout)] == [
        (r["run_id"], r["status"], r["headline"]) for r in old_history]


@pytest.mark.slow
def test_a_run_killed_under_v1_resumes_from_its_checkpoint(old_home: Path) -> None:
    checkpoint = old_home / "runs" / KILLED / "checkpoints" / "i0-k0" / "checkpoint.safetensors"
    at_step = read_state(checkpoint)["step"]
    assert at_step > 0
    proc = run_lesr("run", "--resume", KILLED, "--headless", "--json", home=old_home, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished"
    with Store(old_home) as store:
        resumed = store.get_training(KILLED, "i0-k0")
        assert resumed.status == "finished" and resumed.resumed_from == at_step  # continued, not restarted
        control = [t for t in store.list_trainings(KILLED) if t.purpose == "control"]
        assert [t.training_id for t in control] == ["baseline"]  # the v1 row, not a second control
        finals = {(t.arm, t.seed) for t in store.list_trainings(KILLED, purpose="final")}
        assert finals == {("candidate", 1), ("raw", 1)}
