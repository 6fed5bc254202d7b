"""Schema migrations of the run store, applied when a home written by an older lesr-local is opened.

Version 1 -> 2: the v1 `candidates` table held both what the LLM wrote and every training (kinds
search, baseline, selection, selection-baseline, final-best, final-baseline); `ablations` and
`transfers` held the follow-up trainings. Version 2 keeps the LLM's candidates in `candidates` and
every training, of whatever purpose, in `trainings`. The migration

- copies the file first (`lesr.sqlite3.v1-backup`, never overwritten), so nothing can be lost;
- moves every row in one transaction (a crash leaves the v1 store as it was);
- keeps each training's id, status, results, checkpoint and policy, so a run stopped under v1
  resumes where it was; a v1 training's key is unique to it (`legacy:...`), because nothing
  records which trainer produced it: it is never reused for another;
- stores paths relative to the home (v1 kept absolute ones: a moved home lost them).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from lesr_local.store.schema import CANDIDATES, TRAININGS

BACKUP_SUFFIX = ".v1-backup"

# v1 candidate kinds -> (purpose, arm)
_V1_KINDS = {
    "search": ("search", "candidate"), "baseline": ("control", "raw"), "selection": ("selection", "candidate"),
    "selection-baseline": ("selection", "raw"), "final-best": ("final", "candidate"),
    "final-baseline": ("final", "raw"),
}
# Reasons a v1 training failed because of its candidate's code (v1 did not record the cause).
_CANDIDATE_REASONS = ("revise_state", "intrinsic_reward", "candidate rejected", "candidate code")


def migrate(path: Path, version: int) -> None:
    if version == 1:
        _backup(path)
        _v1_to_v2(path)


def _backup(path: Path) -> None:
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    if backup.exists():
        return
    conn = sqlite3.connect(path, timeout=30.0)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the backup must hold what the WAL holds
        target = sqlite3.connect(backup)
        try:
            conn.backup(target)
        finally:
            target.close()
    finally:
        conn.close()


def legacy_failure(reason: str | None) -> str:
    text = reason or ""
    return "candidate" if any(marker in text for marker in _CANDIDATE_REASONS) else "infrastructure"


def relative_path(text: str | None, run_id: str) -> str | None:
    """A v1 absolute path inside the home as a path relative to it (found by its runs/<run_id>/ part)."""
    if not text:
        return None
    marker = f"/runs/{run_id}/"
    at = text.find(marker)
    return text[at + 1:] if at >= 0 else text


def _v1_to_v2(path: Path) -> None:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None or version[0] != "1":  # another process migrated it meanwhile
                conn.execute("ROLLBACK")
                return
            _move_rows(conn)
            conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}


def _move_rows(conn: sqlite3.Connection) -> None:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for column, sql_type in (("kind", "TEXT NOT NULL DEFAULT 'search'"), ("owner_started", "REAL")):
        if column not in _columns(conn, "runs"):
            conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {sql_type}")
    if "prompt" not in _columns(conn, "iterations"):
        conn.execute("ALTER TABLE iterations ADD COLUMN prompt TEXT")
    conn.execute("ALTER TABLE candidates RENAME TO candidates_v1")
    conn.execute("DROP INDEX IF EXISTS candidates_by_run")
    conn.execute(CANDIDATES)
    conn.execute(TRAININGS)
    configs = {row["run_id"]: json.loads(row["config_json"]) for row in conn.execute("SELECT * FROM runs")}
    have = _columns(conn, "candidates_v1")
    for row in conn.execute("SELECT * FROM candidates_v1 ORDER BY created_at, rowid").fetchall():
        old = {name: row[name] for name in have}
        _move_candidate(conn, old, configs.get(old["run_id"], {}))
    if "ablations" in tables:
        for row in conn.execute("SELECT * FROM ablations ORDER BY created_at, rowid").fetchall():
            _move_ablation(conn, dict(row), configs.get(row["run_id"], {}))
        conn.execute("DROP TABLE ablations")
    if "transfers" in tables:
        for row in conn.execute("SELECT * FROM transfers ORDER BY created_at, rowid").fetchall():
            _move_transfer(conn, dict(row), configs.get(row["run_id"], {}))
        conn.execute("DROP TABLE transfers")
    conn.execute("DROP TABLE candidates_v1")


def _move_candidate(conn: sqlite3.Connection, old: dict[str, Any], config: dict[str, Any]) -> None:
    run_id, cid, kind = old["run_id"], old["candidate_id"], old["kind"]
    if kind == "search":
        conn.execute(
            "INSERT INTO candidates(run_id, candidate_id, iteration, sample, status, reason, code, code_path,"
            " extra_dims, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, cid, old["iteration"], old["sample"], "rejected" if old["status"] == "rejected" else "accepted",
             old["reason"] if old["status"] == "rejected" else None, old["code"] or "",
             relative_path(old["code_path"], run_id), old["extra_dims"], old["created_at"]))
        if old["status"] == "rejected":
            return
    purpose, arm = _V1_KINDS.get(kind, ("search", "candidate"))
    candidate = None if arm == "raw" else (cid if kind == "search" else old["source_candidate_id"])
    weight = 0.0 if candidate is None else float(config.get("intrinsic_weight", 0.02))
    shaping = config.get("shaping", "additive") if weight else None
    status = old["status"] if old["status"] in ("pending", "running", "finished", "failed") else "failed"
    _insert_training(conn, {
        "run_id": run_id, "training_id": cid, "purpose": purpose, "arm": arm, "candidate_id": candidate,
        "seed": old["seed"], "total_steps": old["total_steps"], "algo": "td3", "shaping": shaping,
        "intrinsic_weight": weight, "observation": "features", "status": status,
        "failure": legacy_failure(old["reason"]) if status == "failed" else None, "reason": old["reason"],
        "score": old["score"], "curve_json": old["curve_json"], "lipschitz_json": old["lipschitz_json"],
        "dim_names_json": old["dim_names_json"], "steps_done": old["steps_done"], "seconds": old["seconds"],
        "steps_per_s": old["steps_per_s"], "policy_path": relative_path(old["policy_path"], run_id),
        "checkpoint_dir": relative_path(old["checkpoint_dir"], run_id), "worker_pid": old["worker_pid"],
        "executor": old.get("executor"), "node": old.get("node"), "resumed_from": old.get("resumed_from"),
        "rung_step": old.get("rung_step"), "stopped_at_step": old.get("stopped_at_step"),
        "created_at": old["created_at"], "started_at": old["started_at"], "finished_at": old["finished_at"],
    })


def _move_ablation(conn: sqlite3.Connection, old: dict[str, Any], config: dict[str, Any]) -> None:
    run_id, cid, steps, variant, seed = old["run_id"], old["candidate_id"], old["steps"], old["variant"], old["seed"]
    group = f"{cid}-n{steps}"
    raw = variant == "raw"
    weight = 0.0 if raw or variant == "features_only" else float(config.get("intrinsic_weight", 0.02))
    folder = f"runs/{run_id}/ablations/{group}/{variant}-s{seed}"
    status = old["status"] if old["status"] in ("pending", "running", "finished", "failed") else "failed"
    _insert_training(conn, {
        "run_id": run_id, "training_id": f"ablate-{group}-{variant}-s{seed}", "purpose": "ablation",
        "arm": variant, "candidate_id": None if raw else cid, "group_id": group, "seed": seed,
        "total_steps": steps, "algo": "td3", "shaping": old["shaping"] if weight else None,
        "intrinsic_weight": weight, "observation": "raw" if variant == "reward_only" else "features",
        "status": status, "failure": legacy_failure(old["reason"]) if status == "failed" else None,
        "reason": old["reason"], "score": old["score"], "curve_json": old["curve_json"],
        "steps_done": steps if status == "finished" else 0, "seconds": old["seconds"],
        "checkpoint_dir": folder, "created_at": old["created_at"], "finished_at": old["finished_at"],
    })


def _move_transfer(conn: sqlite3.Connection, old: dict[str, Any], config: dict[str, Any]) -> None:
    run_id, tid, seed = old["run_id"], old["transfer_id"], old["seed"]
    arm = "candidate" if old["arm"] == "best" else "raw"
    weight = float(config.get("intrinsic_weight", 0.02)) if arm == "candidate" else 0.0
    _insert_training(conn, {
        "run_id": run_id, "training_id": f"transfer-{tid}-{old['arm']}-s{seed}", "purpose": "transfer",
        "arm": arm, "candidate_id": old["source_candidate_id"] if arm == "candidate" else None, "group_id": tid,
        "seed": seed, "total_steps": old["total_steps"], "algo": old["algo"],
        # v1 transfers trained additive reward whatever the run's shaping (the bug this version fixes)
        "shaping": "additive" if weight else None, "intrinsic_weight": weight, "observation": "features",
        "status": old["status"], "failure": legacy_failure(old["reason"]) if old["status"] == "failed" else None,
        "reason": old["reason"], "score": old["score"], "curve_json": old["curve_json"],
        "steps_done": old["steps_done"], "seconds": old["seconds"], "steps_per_s": old["steps_per_s"],
        "policy_path": relative_path(old["policy_path"], run_id),
        "checkpoint_dir": relative_path(old["checkpoint_dir"], run_id), "created_at": old["created_at"],
        "finished_at": old["finished_at"],
    })


def _insert_training(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
    legacy = f"legacy:{values['run_id']}:{values['training_id']}"
    values = {**values, "key": legacy, "lineage": legacy}
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    conn.execute(f"INSERT OR IGNORE INTO trainings({names}) VALUES ({marks})", tuple(values.values()))
