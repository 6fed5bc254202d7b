"""The run store: one SQLite database (WAL) per workspace and one folder per run.

Layout: `<home>/lesr.sqlite3` and `<home>/runs/<run_id>/` (candidate modules, checkpoints, videos).
Every state transition is one transaction, so a reader (the TUI, `lesr show`) never sees a half
written candidate: a row says `finished` only together with its score, curve and Lipschitz vector.
Connections are per thread; the engine writes from its threads while the UI reads from its own.
A file that is not a lesr-local store (corrupt, foreign, newer schema) is refused with a one-line
BadInput naming it, and is never written to.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from lesr_local.errors import BadInput
from lesr_local.store.records import (
    AblationRecord,
    CandidateRecord,
    IterationRecord,
    LLMCallRecord,
    RunRecord,
    TransferRecord,
)
from lesr_local.store.schema import ADDED_COLUMNS, APP_MARK, SCHEMA, SCHEMA_VERSION

DB_NAME = "lesr.sqlite3"


class Store:
    """Open (or create) the workspace store at `home`."""

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home)
        self.path = self.home / DB_NAME
        self.runs_dir = self.home / "runs"
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if self.path.exists() and self.path.stat().st_size > 0:
            _verify_existing(self.path)
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            self.runs_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise BadInput(f"workspace {self.home} is not writable: {exc.strerror or exc}") from None
        self._create_schema()

    # -- connections -------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA busy_timeout = 30000")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
            except sqlite3.DatabaseError as exc:
                raise BadInput(f"cannot open the run store {self.path}: {exc}") from None
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                with suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create_schema(self) -> None:
        with self._tx() as conn:
            for statement in SCHEMA:
                conn.execute(statement)
            for table, column, sql_type in ADDED_COLUMNS:
                present = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('app', ?)", (APP_MARK,))
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    # -- runs --------------------------------------------------------------------------------

    def ensure_run_dir(self, run_id: str) -> Path:
        """The run's artifact folder, created if it does not exist yet."""
        path = self.runs_dir / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def create_run(self, run_id: str, env_id: str, preset: str, config: dict[str, Any]) -> RunRecord:
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO runs(run_id, env_id, preset, status, created, updated, config_json, owner_pid)"
                " VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
                (run_id, env_id, preset, now, now, json.dumps(config), os.getpid()),
            )
        self.ensure_run_dir(run_id)
        return self.get_run(run_id)

    def set_run_config(self, run_id: str, config: dict[str, Any]) -> None:
        """A resumed run's settings that changed (only where it runs: `lesr run --resume --executor`)."""
        with self._tx() as conn:
            conn.execute("UPDATE runs SET config_json = ?, updated = ? WHERE run_id = ?",
                         (json.dumps(config), time.time(), run_id))

    def find_run(self, run_id: str) -> RunRecord | None:
        rows = self._query("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return _run(rows[0]) if rows else None

    def get_run(self, run_id: str) -> RunRecord:
        """The run, or BadInput (exit 2) naming the unknown id."""
        run = self.find_run(run_id)
        if run is None:
            raise BadInput(f"unknown run id {run_id!r} in {self.path} (see `lesr history`)")
        return run

    def list_runs(self) -> list[RunRecord]:
        """All runs, newest first."""
        return [_run(row) for row in self._query("SELECT * FROM runs ORDER BY created DESC, run_id DESC")]

    def set_run_status(self, run_id: str, status: str, reason: str | None = None) -> None:
        now = time.time()
        ended = now if status in ("finished", "failed", "interrupted") else None
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, reason = ?, updated = ?, finished_at = ? WHERE run_id = ?",
                (status, reason, now, ended, run_id),
            )

    def claim_run(self, run_id: str) -> None:
        """Mark the run as driven by this process (on start and on resume)."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET status = 'running', reason = NULL, finished_at = NULL, updated = ?,"
                " owner_pid = ? WHERE run_id = ?",
                (time.time(), os.getpid(), run_id),
            )

    def set_run_summary(
        self, run_id: str, summary: dict[str, Any], best_candidate_id: str | None,
        best_score: float | None, baseline_score: float | None,
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET summary_json = ?, best_candidate_id = ?, best_score = ?, baseline_score = ?,"
                " updated = ? WHERE run_id = ?",
                (json.dumps(summary), best_candidate_id, best_score, baseline_score, time.time(), run_id),
            )

    def set_run_best(self, run_id: str, best_candidate_id: str | None, best_score: float | None,
                     baseline_score: float | None) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET best_candidate_id = ?, best_score = ?, baseline_score = ?, updated = ?"
                " WHERE run_id = ?",
                (best_candidate_id, best_score, baseline_score, time.time(), run_id),
            )

    # -- iterations --------------------------------------------------------------------------

    def start_iteration(self, run_id: str, iteration: int) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO iterations(run_id, iteration, status, started_at)"
                " VALUES (?, ?, 'running', ?)",
                (run_id, iteration, time.time()),
            )

    def finish_iteration(self, run_id: str, iteration: int, analysis: str | None, dropped: list[str]) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE iterations SET status = 'finished', analysis = ?, dropped_json = ?, finished_at = ?"
                " WHERE run_id = ? AND iteration = ?",
                (analysis, json.dumps(dropped), time.time(), run_id, iteration),
            )

    def list_iterations(self, run_id: str) -> list[IterationRecord]:
        rows = self._query("SELECT * FROM iterations WHERE run_id = ? ORDER BY iteration", (run_id,))
        return [_iteration(row) for row in rows]

    # -- candidates --------------------------------------------------------------------------

    def add_candidate(
        self, run_id: str, candidate_id: str, *, kind: str, seed: int, total_steps: int,
        iteration: int | None = None, sample: int | None = None, code: str | None = None,
        code_path: str | None = None, status: str = "pending", reason: str | None = None,
        extra_dims: int | None = None, source_candidate_id: str | None = None,
        checkpoint_dir: str | None = None,
    ) -> CandidateRecord:
        """Insert a candidate (or replace an unfinished one with the same id)."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT status FROM candidates WHERE run_id = ? AND candidate_id = ?", (run_id, candidate_id)
            ).fetchone()
            if row is not None and row["status"] in ("finished", "rejected"):
                raise ValueError(f"candidate {candidate_id} of run {run_id} is already {row['status']}")
            conn.execute(
                "INSERT OR REPLACE INTO candidates(run_id, candidate_id, kind, iteration, sample, seed, status,"
                " reason, code, code_path, source_candidate_id, extra_dims, total_steps, steps_done,"
                " checkpoint_dir, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                (run_id, candidate_id, kind, iteration, sample, seed, status, reason, code, code_path,
                 source_candidate_id, extra_dims, total_steps, checkpoint_dir, time.time()),
            )
        return self.get_candidate(run_id, candidate_id)

    def mark_running(self, run_id: str, candidate_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE candidates SET status = 'running', reason = NULL,"
                " started_at = COALESCE(started_at, ?) WHERE run_id = ? AND candidate_id = ?"
                " AND status IN ('pending', 'running', 'failed')",
                (time.time(), run_id, candidate_id),
            )

    def set_worker_pid(self, run_id: str, candidate_id: str, pid: int | None) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE candidates SET worker_pid = ? WHERE run_id = ? AND candidate_id = ?",
                (pid, run_id, candidate_id),
            )

    def set_placement(self, run_id: str, candidate_id: str, executor: str, node: str | None) -> None:
        """Where a training runs: the executor's name and the node (Ray node id or host name)."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE candidates SET executor = ?, node = ? WHERE run_id = ? AND candidate_id = ?",
                (executor, node, run_id, candidate_id),
            )

    def set_resumed_from(self, run_id: str, candidate_id: str, step: int) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE candidates SET resumed_from = ? WHERE run_id = ? AND candidate_id = ?",
                (step, run_id, candidate_id),
            )

    def update_progress(self, run_id: str, candidate_id: str, steps_done: int,
                        curve: list[tuple[int, float]] | None = None) -> None:
        with self._tx() as conn:
            if curve is None:
                conn.execute(
                    "UPDATE candidates SET steps_done = ? WHERE run_id = ? AND candidate_id = ?"
                    " AND status = 'running'",
                    (steps_done, run_id, candidate_id),
                )
            else:
                conn.execute(
                    "UPDATE candidates SET steps_done = ?, curve_json = ? WHERE run_id = ? AND candidate_id = ?"
                    " AND status = 'running'",
                    (steps_done, json.dumps([list(p) for p in curve]), run_id, candidate_id),
                )

    def finish_candidate(
        self, run_id: str, candidate_id: str, *, score: float | None, curve: list[tuple[int, float]],
        lipschitz: list[float] | None, dim_names: list[str] | None, steps: int, seconds: float,
        steps_per_s: float | None, policy_path: str | None,
    ) -> None:
        """One transaction: the row is 'finished' only together with its results."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE candidates SET status = 'finished', reason = NULL, score = ?, curve_json = ?,"
                " lipschitz_json = ?, dim_names_json = ?, steps_done = ?, seconds = ?, steps_per_s = ?,"
                " policy_path = ?, worker_pid = NULL, finished_at = ? WHERE run_id = ? AND candidate_id = ?",
                (score, json.dumps([list(p) for p in curve]), _dumps(lipschitz), _dumps(dim_names), steps,
                 seconds, steps_per_s, policy_path, time.time(), run_id, candidate_id),
            )

    def pause_candidate(
        self, run_id: str, candidate_id: str, *, step: int, curve: list[tuple[int, float]],
        lipschitz: list[float] | None, dim_names: list[str] | None, seconds: float,
    ) -> None:
        """Successive halving: the training reached rung `step` and waits (pending) for the rung's decision."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE candidates SET status = 'pending', rung_step = ?, steps_done = ?, curve_json = ?,"
                " lipschitz_json = ?, dim_names_json = ?, seconds = ?, worker_pid = NULL"
                " WHERE run_id = ? AND candidate_id = ?",
                (step, step, json.dumps([list(p) for p in curve]), _dumps(lipschitz), _dumps(dim_names), seconds,
                 run_id, candidate_id),
            )

    def stop_candidate(self, run_id: str, candidate_id: str, *, step: int, score: float | None,
                       reason: str) -> None:
        """Successive halving cut it at rung `step`: finished there, scored at that step."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE candidates SET status = 'finished', stopped_at_step = ?, steps_done = ?, score = ?,"
                " reason = ?, worker_pid = NULL, finished_at = ? WHERE run_id = ? AND candidate_id = ?",
                (step, step, score, reason, time.time(), run_id, candidate_id),
            )

    def fail_candidate(self, run_id: str, candidate_id: str, reason: str, status: str = "failed") -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE candidates SET status = ?, reason = ?, worker_pid = NULL, finished_at = ?"
                " WHERE run_id = ? AND candidate_id = ?",
                (status, reason, time.time(), run_id, candidate_id),
            )

    def requeue_unfinished(self, run_id: str) -> int:
        """On resume: trainings that were running go back to pending (they continue from checkpoints)."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE candidates SET status = 'pending', worker_pid = NULL WHERE run_id = ?"
                " AND status = 'running'",
                (run_id,),
            )
            return cur.rowcount

    def find_candidate(self, run_id: str, candidate_id: str) -> CandidateRecord | None:
        rows = self._query(
            "SELECT * FROM candidates WHERE run_id = ? AND candidate_id = ?", (run_id, candidate_id)
        )
        return _candidate(rows[0]) if rows else None

    def get_candidate(self, run_id: str, candidate_id: str) -> CandidateRecord:
        cand = self.find_candidate(run_id, candidate_id)
        if cand is None:
            raise BadInput(f"run {run_id} has no candidate {candidate_id!r}")
        return cand

    def list_candidates(self, run_id: str, kind: str | None = None) -> list[CandidateRecord]:
        """Candidates in creation order (optionally one kind: search, baseline, final-best, ...)."""
        sql = "SELECT * FROM candidates WHERE run_id = ?"
        params: tuple[Any, ...] = (run_id,)
        if kind is not None:
            sql += " AND kind = ?"
            params = (run_id, kind)
        return [_candidate(row) for row in self._query(sql + " ORDER BY created_at, rowid", params)]

    # -- LLM exchanges -----------------------------------------------------------------------

    def record_llm_call(
        self, run_id: str, call_key: str, *, purpose: str, iteration: int, sample: int, attempt: int,
        prompt: str, reply: str, prompt_tokens: int, completion_tokens: int, seconds: float,
        finish_reason: str, parsed: dict[str, Any] | None = None,
    ) -> LLMCallRecord:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO llm_calls(run_id, call_key, purpose, iteration, sample, attempt, prompt, reply,"
                " prompt_tokens, completion_tokens, seconds, finish_reason, parsed_json, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, call_key, purpose, iteration, sample, attempt, prompt, reply, prompt_tokens,
                 completion_tokens, seconds, finish_reason, _dumps(parsed), time.time()),
            )
        found = self.find_llm_call(run_id, call_key)
        assert found is not None
        return found

    def set_llm_parsed(self, run_id: str, call_key: str, parsed: dict[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE llm_calls SET parsed_json = ? WHERE run_id = ? AND call_key = ?",
                (json.dumps(parsed), run_id, call_key),
            )

    def find_llm_call(self, run_id: str, call_key: str) -> LLMCallRecord | None:
        rows = self._query("SELECT * FROM llm_calls WHERE run_id = ? AND call_key = ?", (run_id, call_key))
        return _llm_call(rows[0]) if rows else None

    def list_llm_calls(self, run_id: str) -> list[LLMCallRecord]:
        rows = self._query("SELECT * FROM llm_calls WHERE run_id = ? ORDER BY id", (run_id,))
        return [_llm_call(row) for row in rows]

    # -- ablations ---------------------------------------------------------------------------

    def start_ablation(self, run_id: str, candidate_id: str, steps: int, variant: str, seed: int,
                       shaping: str | None) -> None:
        """(Re)mark one ablation training as running; a finished row is left as it is."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO ablations(run_id, candidate_id, steps, variant, seed, status, shaping, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'running', ?, ?)"
                " ON CONFLICT(run_id, candidate_id, steps, variant, seed) DO UPDATE SET status = 'running',"
                " reason = NULL WHERE status != 'finished'",
                (run_id, candidate_id, steps, variant, seed, shaping, time.time()),
            )

    def finish_ablation(self, run_id: str, candidate_id: str, steps: int, variant: str, seed: int, *,
                        status: str, score: float | None, auc: float | None, curve: list[tuple[int, float]],
                        reason: str | None, seconds: float | None) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE ablations SET status = ?, score = ?, auc = ?, curve_json = ?, reason = ?, seconds = ?,"
                " finished_at = ? WHERE run_id = ? AND candidate_id = ? AND steps = ? AND variant = ? AND seed = ?",
                (status, score, auc, _dumps(curve), reason, seconds, time.time(), run_id, candidate_id, steps,
                 variant, seed),
            )

    def list_ablations(self, run_id: str) -> list[AblationRecord]:
        rows = self._query("SELECT * FROM ablations WHERE run_id = ? ORDER BY created_at, rowid", (run_id,))
        return [_ablation(r) for r in rows]

    # -- transfers (lesr transfer) -------------------------------------------------------------
    def add_transfer_row(self, run_id: str, transfer_id: str, *, algo: str, arm: str, seed: int,
                         total_steps: int, source_candidate_id: str | None, checkpoint_dir: str | None) -> None:
        """Insert a pending transfer training; an existing row (a rerun continuing it) is kept."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO transfers(run_id, transfer_id, algo, arm, seed, status,"
                " source_candidate_id, total_steps, checkpoint_dir, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
                (run_id, transfer_id, algo, arm, seed, source_candidate_id, total_steps, checkpoint_dir,
                 time.time()),
            )

    def mark_transfer_running(self, run_id: str, transfer_id: str, arm: str, seed: int) -> None:
        self._set_transfer(run_id, transfer_id, arm, seed, "status = 'running', reason = NULL", ())

    def update_transfer_progress(self, run_id: str, transfer_id: str, arm: str, seed: int, steps_done: int,
                                 curve: list[tuple[int, float]] | None = None) -> None:
        if curve is None:
            self._set_transfer(run_id, transfer_id, arm, seed, "steps_done = ?", (steps_done,))
        else:
            self._set_transfer(run_id, transfer_id, arm, seed, "steps_done = ?, curve_json = ?",
                               (steps_done, json.dumps([list(p) for p in curve])))

    def finish_transfer_row(self, run_id: str, transfer_id: str, arm: str, seed: int, *, score: float | None,
                            curve: list[tuple[int, float]], steps: int, seconds: float,
                            steps_per_s: float | None, policy_path: str | None) -> None:
        """One transaction: 'finished' only together with the score and curve."""
        self._set_transfer(
            run_id, transfer_id, arm, seed,
            "status = 'finished', reason = NULL, score = ?, curve_json = ?, steps_done = ?, seconds = ?,"
            " steps_per_s = ?, policy_path = ?, finished_at = ?",
            (score, json.dumps([list(p) for p in curve]), steps, seconds, steps_per_s, policy_path, time.time()))

    def fail_transfer_row(self, run_id: str, transfer_id: str, arm: str, seed: int, reason: str,
                          status: str = "failed") -> None:
        self._set_transfer(run_id, transfer_id, arm, seed, "status = ?, reason = ?, finished_at = ?",
                           (status, reason, time.time()))

    def _set_transfer(self, run_id: str, transfer_id: str, arm: str, seed: int, assignments: str,
                      values: tuple[Any, ...]) -> None:
        with self._tx() as conn:
            conn.execute(f"UPDATE transfers SET {assignments} WHERE run_id = ? AND transfer_id = ?"
                         " AND arm = ? AND seed = ?", (*values, run_id, transfer_id, arm, seed))

    def list_transfers(self, run_id: str) -> list[TransferRecord]:
        """Every transfer training of the run, oldest transfer first, best arm before baseline."""
        rows = self._query("SELECT * FROM transfers WHERE run_id = ? ORDER BY created_at, rowid", (run_id,))
        return [_transfer(row) for row in rows]


# -- helpers -------------------------------------------------------------------------------------


def _ablation(row: sqlite3.Row) -> AblationRecord:
    return AblationRecord(
        run_id=row["run_id"], candidate_id=row["candidate_id"], steps=int(row["steps"]), variant=row["variant"],
        seed=int(row["seed"]), status=row["status"], shaping=row["shaping"], score=row["score"], auc=row["auc"],
        curve=[(int(s), float(v)) for s, v in (_loads(row["curve_json"]) or [])], reason=row["reason"],
        seconds=row["seconds"], created_at=float(row["created_at"]), finished_at=row["finished_at"],
    )


def _verify_existing(path: Path) -> None:
    """Read-only look at an existing file: refuse anything that is not our store (never write to it)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
    except sqlite3.Error as exc:
        raise BadInput(f"cannot open the run store {path}: {exc}") from None
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not names:  # an empty database: a store another process is creating right now, or a new file
            return
        if "meta" not in names:
            raise BadInput(f"{path} is not a lesr-local run store (foreign SQLite database); move it away")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as exc:
        raise BadInput(f"{path} is corrupt or not a lesr-local run store ({exc}); move it away") from None
    finally:
        conn.close()
    if meta.get("app") != APP_MARK:
        raise BadInput(f"{path} is not a lesr-local run store (foreign SQLite database); move it away")
    try:
        version = int(meta.get("schema_version", "0"))
    except ValueError:
        version = -1
    if version != SCHEMA_VERSION:
        raise BadInput(
            f"{path} has store schema version {version}, this lesr-local reads version {SCHEMA_VERSION}"
        )


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"], env_id=row["env_id"], preset=row["preset"], status=row["status"],
        created=row["created"], updated=row["updated"], finished_at=row["finished_at"],
        config=json.loads(row["config_json"]), reason=row["reason"], summary=_loads(row["summary_json"]),
        best_candidate_id=row["best_candidate_id"], best_score=row["best_score"],
        baseline_score=row["baseline_score"], owner_pid=row["owner_pid"],
    )


def _iteration(row: sqlite3.Row) -> IterationRecord:
    return IterationRecord(
        run_id=row["run_id"], iteration=row["iteration"], status=row["status"], analysis=row["analysis"],
        dropped=_loads(row["dropped_json"]) or [], started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def _candidate(row: sqlite3.Row) -> CandidateRecord:
    curve = [(int(step), float(value)) for step, value in (_loads(row["curve_json"]) or [])]
    return CandidateRecord(
        run_id=row["run_id"], candidate_id=row["candidate_id"], kind=row["kind"], iteration=row["iteration"],
        sample=row["sample"], seed=row["seed"], status=row["status"], reason=row["reason"], code=row["code"],
        code_path=row["code_path"], source_candidate_id=row["source_candidate_id"],
        extra_dims=row["extra_dims"], score=row["score"], lipschitz=_loads(row["lipschitz_json"]),
        dim_names=_loads(row["dim_names_json"]), curve=curve, total_steps=row["total_steps"],
        steps_done=row["steps_done"], seconds=row["seconds"], steps_per_s=row["steps_per_s"],
        policy_path=row["policy_path"], checkpoint_dir=row["checkpoint_dir"], worker_pid=row["worker_pid"],
        created_at=row["created_at"], started_at=row["started_at"], finished_at=row["finished_at"],
        rung_step=row["rung_step"], stopped_at_step=row["stopped_at_step"],
        executor=row["executor"], node=row["node"], resumed_from=row["resumed_from"],
    )


def _llm_call(row: sqlite3.Row) -> LLMCallRecord:
    return LLMCallRecord(
        id=row["id"], run_id=row["run_id"], call_key=row["call_key"], purpose=row["purpose"],
        iteration=row["iteration"], sample=row["sample"], attempt=row["attempt"], prompt=row["prompt"],
        reply=row["reply"], prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
        seconds=row["seconds"], finish_reason=row["finish_reason"], parsed=_loads(row["parsed_json"]),
        created_at=row["created_at"],
    )


def _transfer(row: sqlite3.Row) -> TransferRecord:
    curve = [(int(step), float(value)) for step, value in (_loads(row["curve_json"]) or [])]
    return TransferRecord(
        run_id=row["run_id"], transfer_id=row["transfer_id"], algo=row["algo"], arm=row["arm"],
        seed=row["seed"], status=row["status"], reason=row["reason"],
        source_candidate_id=row["source_candidate_id"], score=row["score"], curve=curve,
        total_steps=row["total_steps"], steps_done=row["steps_done"], seconds=row["seconds"],
        steps_per_s=row["steps_per_s"], policy_path=row["policy_path"], checkpoint_dir=row["checkpoint_dir"],
        created_at=row["created_at"], finished_at=row["finished_at"],
    )
