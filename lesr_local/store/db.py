"""The run store: one SQLite database (WAL) per workspace and one folder per run.

Layout: `<home>/lesr.sqlite3` and `<home>/runs/<run_id>/` (candidate modules, checkpoints, policies,
videos). Every state transition is one transaction, so a reader (the TUI, `lesr show`) never sees a
half written row: a training says `finished` only together with its score, curve and Lipschitz
vector, and a run says `finished` only together with its summary. Connections are per thread; the
engine writes from its threads while the UI reads from its own. A file that is not a lesr-local store
(corrupt, foreign, newer schema) is refused with a one-line BadInput naming it and is never written
to; a store of an older version is migrated on open (store/migrate.py, after a backup copy).
Paths are kept relative to the home and handed out absolute.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesr_local.errors import BadInput
from lesr_local.procs import process_started, same_process
from lesr_local.store.migrate import migrate
from lesr_local.store.records import (
    CandidateRecord,
    CandidateView,
    IterationRecord,
    LLMCallRecord,
    RunRecord,
    TrainingRecord,
)
from lesr_local.store.schema import APP_MARK, SCHEMA, SCHEMA_VERSION

DB_NAME = "lesr.sqlite3"
Curve = list[tuple[int, float]]


@dataclass(frozen=True)
class NewTraining:
    """What is known of a training before it runs (what `Store.add_training` writes)."""

    training_id: str
    purpose: str
    arm: str
    candidate_id: str | None
    seed: int
    total_steps: int
    key: str
    lineage: str
    algo: str = "td3"
    shaping: str | None = None
    intrinsic_weight: float = 0.0
    observation: str = "features"
    group_id: str | None = None
    settings: dict[str, Any] | None = None
    checkpoint_dir: Path | None = None
    policy_path: Path | None = None


class Store:
    """Open (or create) the workspace store at `home`."""

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home)
        self.path = self.home / DB_NAME
        self.runs_dir = self.home / "runs"
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        version = _verify_existing(self.path) if self.path.exists() and self.path.stat().st_size > 0 else None
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            self.runs_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise BadInput(f"workspace {self.home} is not writable: {exc.strerror or exc}") from None
        if version is not None and version < SCHEMA_VERSION:
            migrate(self.path, version)
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
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('app', ?)", (APP_MARK,))
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    # -- paths -------------------------------------------------------------------------------

    def relative(self, path: str | os.PathLike[str] | None) -> str | None:
        """A path as the store keeps it: relative to the home when it lies inside it."""
        if path is None:
            return None
        p = Path(path)
        try:
            return str(p.resolve().relative_to(self.home.resolve()))
        except ValueError:
            return str(p)

    def absolute(self, text: str | None) -> str | None:
        if text is None:
            return None
        p = Path(text)
        return str(p if p.is_absolute() else self.home / p)

    # -- runs --------------------------------------------------------------------------------

    def ensure_run_dir(self, run_id: str) -> Path:
        """The run's artifact folder, created if it does not exist yet."""
        path = self.runs_dir / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def create_run(self, run_id: str, env_id: str, preset: str, config: dict[str, Any],
                   kind: str = "search") -> RunRecord:
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO runs(run_id, kind, env_id, preset, status, created, updated, config_json, owner_pid,"
                " owner_started) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                (run_id, kind, env_id, preset, now, now, json.dumps(config), os.getpid(),
                 process_started(os.getpid())),
            )
        self.ensure_run_dir(run_id)
        return self.get_run(run_id)

    def set_run_config(self, run_id: str, config: dict[str, Any]) -> None:
        """A resumed run's settings that changed (where it runs, how many final seeds)."""
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

    def claim_run(self, run_id: str) -> None:
        """Make this process the run's driver, atomically: BadInput when another live process drives it.

        The check and the claim are one write transaction, so of two `lesr run --resume X` started
        together exactly one gets the run."""
        me, started = os.getpid(), process_started(os.getpid())
        with self._tx() as conn:
            row = conn.execute("SELECT status, owner_pid, owner_started FROM runs WHERE run_id = ?",
                               (run_id,)).fetchone()
            if row is None:
                raise BadInput(f"unknown run id {run_id!r} in {self.path} (see `lesr history`)")
            owner = row["owner_pid"]
            if (row["status"] == "running" and owner and owner != me
                    and same_process(owner, row["owner_started"])):
                raise BadInput(f"run {run_id} is being driven by process {owner}; wait for it or stop it first")
            conn.execute(
                "UPDATE runs SET status = 'running', reason = NULL, finished_at = NULL, updated = ?,"
                " owner_pid = ?, owner_started = ? WHERE run_id = ?",
                (time.time(), me, started, run_id),
            )

    def end_run(self, run_id: str, status: str, reason: str | None, summary: dict[str, Any],
                best_candidate_id: str | None, best_score: float | None, control_score: float | None) -> None:
        """The run's end state and its summary in one transaction: a run never reads `finished`
        without the summary it finished with."""
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, reason = ?, updated = ?, finished_at = ?, summary_json = ?,"
                " best_candidate_id = ?, best_score = ?, baseline_score = ? WHERE run_id = ?",
                (status, reason, now, now, json.dumps(summary), best_candidate_id, best_score, control_score,
                 run_id),
            )

    def set_run_summary(self, run_id: str, summary: dict[str, Any]) -> None:
        """A recomputed summary (more seeds added to a finished run's final evaluation)."""
        with self._tx() as conn:
            conn.execute("UPDATE runs SET summary_json = ?, updated = ? WHERE run_id = ?",
                         (json.dumps(summary), time.time(), run_id))

    def set_run_best(self, run_id: str, best_candidate_id: str | None, best_score: float | None,
                     control_score: float | None) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE runs SET best_candidate_id = ?, best_score = ?, baseline_score = ?, updated = ?"
                " WHERE run_id = ?",
                (best_candidate_id, best_score, control_score, time.time(), run_id),
            )

    # -- iterations --------------------------------------------------------------------------

    def start_iteration(self, run_id: str, iteration: int, prompt: str | None = None) -> IterationRecord:
        """Record the iteration and the prompt its samples are asked with; an iteration started before
        keeps its prompt (a resumed run asks the rest of its samples exactly as the first ones)."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO iterations(run_id, iteration, status, started_at, prompt)"
                " VALUES (?, ?, 'running', ?, ?)",
                (run_id, iteration, time.time(), prompt),
            )
            conn.execute("UPDATE iterations SET prompt = COALESCE(prompt, ?) WHERE run_id = ? AND iteration = ?",
                         (prompt, run_id, iteration))
        return next(it for it in self.list_iterations(run_id) if it.iteration == iteration)

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

    # -- candidates (what the LLM wrote) ------------------------------------------------------

    def add_candidate(self, run_id: str, candidate_id: str, *, code: str, status: str = "accepted",
                      iteration: int | None = None, sample: int | None = None, reason: str | None = None,
                      code_path: str | os.PathLike[str] | None = None,
                      extra_dims: int | None = None) -> CandidateRecord:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO candidates(run_id, candidate_id, iteration, sample, status, reason, code, code_path,"
                " extra_dims, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, candidate_id, iteration, sample, status, reason, code, self.relative(code_path),
                 extra_dims, time.time()),
            )
        return self.get_candidate(run_id, candidate_id)

    def find_candidate(self, run_id: str, candidate_id: str) -> CandidateRecord | None:
        rows = self._query("SELECT * FROM candidates WHERE run_id = ? AND candidate_id = ?", (run_id, candidate_id))
        return self._candidate(rows[0]) if rows else None

    def get_candidate(self, run_id: str, candidate_id: str) -> CandidateRecord:
        cand = self.find_candidate(run_id, candidate_id)
        if cand is None:
            raise BadInput(f"run {run_id} has no candidate {candidate_id!r}")
        return cand

    def list_candidates(self, run_id: str) -> list[CandidateRecord]:
        rows = self._query("SELECT * FROM candidates WHERE run_id = ? ORDER BY created_at, rowid", (run_id,))
        return [self._candidate(row) for row in rows]

    def candidate_views(self, run_id: str) -> list[CandidateView]:
        """Every candidate of the run with its search training (None when it has none)."""
        search = {t.candidate_id: t for t in self.list_trainings(run_id, purpose="search")}
        return [CandidateView(c, search.get(c.candidate_id)) for c in self.list_candidates(run_id)]

    # -- trainings ---------------------------------------------------------------------------

    def add_training(self, run_id: str, new: NewTraining) -> TrainingRecord:
        """Insert a pending training; an existing row with the same id is kept as it is (a resumed
        run asks again for what it asked before)."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO trainings(run_id, training_id, purpose, arm, candidate_id, group_id, seed,"
                " total_steps, algo, shaping, intrinsic_weight, observation, key, lineage, settings_json, status,"
                " checkpoint_dir, policy_path, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                (run_id, new.training_id, new.purpose, new.arm, new.candidate_id, new.group_id, new.seed,
                 new.total_steps, new.algo, new.shaping, new.intrinsic_weight, new.observation, new.key,
                 new.lineage, _dumps(new.settings), self.relative(new.checkpoint_dir),
                 self.relative(new.policy_path), time.time()),
            )
        return self.get_training(run_id, new.training_id)

    def find_training(self, run_id: str, training_id: str) -> TrainingRecord | None:
        rows = self._query("SELECT * FROM trainings WHERE run_id = ? AND training_id = ?", (run_id, training_id))
        return self._training(rows[0]) if rows else None

    def get_training(self, run_id: str, training_id: str) -> TrainingRecord:
        found = self.find_training(run_id, training_id)
        if found is None:
            raise BadInput(f"run {run_id} has no training {training_id!r}")
        return found

    def list_trainings(self, run_id: str, purpose: str | None = None) -> list[TrainingRecord]:
        """The run's trainings in creation order (optionally of one purpose)."""
        sql, params = "SELECT * FROM trainings WHERE run_id = ?", (run_id,)
        if purpose is not None:
            sql, params = sql + " AND purpose = ?", (run_id, purpose)
        return [self._training(row) for row in self._query(sql + " ORDER BY created_at, rowid", params)]

    def finished_with_key(self, key: str) -> TrainingRecord | None:
        """A finished training of this key anywhere in the home, the original (not itself reused)
        first, then the oldest."""
        rows = self._query(
            "SELECT * FROM trainings WHERE key = ? AND status = 'finished' AND stopped_at_step IS NULL"
            " ORDER BY reused_from_training IS NOT NULL, finished_at LIMIT 1", (key,))
        return self._training(rows[0]) if rows else None

    def finished_with_lineage(self, lineage: str, below_steps: int) -> list[TrainingRecord]:
        """Finished trainings of the same lineage that are shorter than `below_steps`, longest first."""
        rows = self._query(
            "SELECT * FROM trainings WHERE lineage = ? AND status = 'finished' AND stopped_at_step IS NULL"
            " AND total_steps < ? ORDER BY total_steps DESC, finished_at", (lineage, below_steps))
        return [self._training(row) for row in rows]

    def all_trainings(self) -> list[TrainingRecord]:
        return [self._training(row) for row in self._query("SELECT * FROM trainings ORDER BY created_at, rowid")]

    def mark_training_running(self, run_id: str, training_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE trainings SET status = 'running', reason = NULL, failure = NULL,"
                " started_at = COALESCE(started_at, ?) WHERE run_id = ? AND training_id = ?"
                " AND status IN ('pending', 'running', 'failed', 'cancelled')",
                (time.time(), run_id, training_id),
            )

    def set_worker_pid(self, run_id: str, training_id: str, pid: int | None) -> None:
        self._set(run_id, training_id, "worker_pid = ?", (pid,))

    def set_placement(self, run_id: str, training_id: str, executor: str, node: str | None) -> None:
        """Where a training runs: the executor's name and the node (Ray node id or host name)."""
        self._set(run_id, training_id, "executor = ?, node = ?", (executor, node))

    def set_extension_source(self, run_id: str, training_id: str, source: TrainingRecord, steps: int) -> None:
        """The training continues `source`'s checkpoint at `steps` (prefix extension)."""
        self._set(run_id, training_id, "reused_from_run = ?, reused_from_training = ?, reused_steps = ?",
                  (source.run_id, source.training_id, steps))

    def update_training_progress(self, run_id: str, training_id: str, steps_done: int,
                                 curve: Curve | None = None) -> None:
        if curve is None:
            self._set(run_id, training_id, "steps_done = ?", (steps_done,), only_running=True)
        else:
            self._set(run_id, training_id, "steps_done = ?, curve_json = ?", (steps_done, _curve(curve)),
                      only_running=True)

    def finish_training(self, run_id: str, training_id: str, *, score: float | None, curve: Curve,
                        lipschitz: list[float] | None, dim_names: list[str] | None, steps: int, seconds: float,
                        steps_per_s: float | None, policy_path: str | None, resumed_from: int | None = None,
                        walls: list[str] | None = None, numerics: str | None = None) -> None:
        """One transaction: the row is 'finished' only together with its results."""
        self._set(
            run_id, training_id,
            "status = 'finished', reason = NULL, failure = NULL, score = ?, curve_json = ?, lipschitz_json = ?,"
            " dim_names_json = ?, steps_done = ?, seconds = ?, steps_per_s = ?, policy_path = ?, worker_pid = NULL,"
            " resumed_from = ?, walls_json = COALESCE(?, walls_json), numerics = COALESCE(?, numerics),"
            " finished_at = ?",
            (score, _curve(curve), _dumps(lipschitz), _dumps(dim_names), steps, seconds, steps_per_s,
             self.relative(policy_path), resumed_from, _dumps(walls), numerics, time.time()))

    def record_reuse(self, run_id: str, training_id: str, source: TrainingRecord) -> None:
        """The training is `source` itself (same key): its results, and where they came from."""
        self._set(
            run_id, training_id,
            "status = 'finished', reason = NULL, failure = NULL, score = ?, curve_json = ?, lipschitz_json = ?,"
            " dim_names_json = ?, steps_done = ?, seconds = 0, steps_per_s = NULL, policy_path = ?,"
            " worker_pid = NULL, reused_from_run = ?, reused_from_training = ?, reused_steps = ?,"
            " walls_json = ?, numerics = ?, executor = ?, node = ?, resumed_from = 0, finished_at = ?",
            (source.score, _curve(source.curve), _dumps(source.lipschitz), _dumps(source.dim_names),
             source.total_steps, self.relative(source.policy_path), source.run_id, source.training_id,
             source.total_steps, _dumps(source.walls), source.numerics, source.executor, source.node,
             time.time()))

    def pause_training(self, run_id: str, training_id: str, *, step: int, curve: Curve,
                       lipschitz: list[float] | None, dim_names: list[str] | None, seconds: float) -> None:
        """Successive halving: the training reached rung `step` and waits (pending) for the rung's decision."""
        self._set(run_id, training_id,
                  "status = 'pending', rung_step = ?, steps_done = ?, curve_json = ?, lipschitz_json = ?,"
                  " dim_names_json = ?, seconds = ?, worker_pid = NULL",
                  (step, step, _curve(curve), _dumps(lipschitz), _dumps(dim_names), seconds))

    def stop_training(self, run_id: str, training_id: str, *, step: int, score: float | None, reason: str) -> None:
        """Successive halving cut it at rung `step`: finished there, scored at that step."""
        self._set(run_id, training_id,
                  "status = 'finished', stopped_at_step = ?, steps_done = ?, score = ?, reason = ?,"
                  " worker_pid = NULL, finished_at = ?", (step, step, score, reason, time.time()))

    def fail_training(self, run_id: str, training_id: str, reason: str, *, failure: str,
                      status: str = "failed", walls: list[str] | None = None) -> None:
        self._set(run_id, training_id,
                  "status = ?, reason = ?, failure = ?, worker_pid = NULL, walls_json = COALESCE(?, walls_json),"
                  " finished_at = ?", (status, reason, failure, _dumps(walls), time.time()))

    def requeue_unfinished(self, run_id: str) -> int:
        """On resume: trainings that were running go back to pending (they continue from checkpoints)."""
        with self._tx() as conn:
            cur = conn.execute("UPDATE trainings SET status = 'pending', worker_pid = NULL WHERE run_id = ?"
                               " AND status = 'running'", (run_id,))
            return cur.rowcount

    def rekey_training(self, run_id: str, training_id: str, key: str, lineage: str,
                       settings: dict[str, Any]) -> None:
        """File the training under the key of the numerics it really ran on."""
        self._set(run_id, training_id, "key = ?, lineage = ?, settings_json = ?", (key, lineage, _dumps(settings)))

    def retry_training(self, run_id: str, training_id: str) -> None:
        """A training that failed for reasons outside its candidate is asked for again: pending."""
        self._set(run_id, training_id, "status = 'pending', reason = NULL, failure = NULL, finished_at = NULL",
                  ())

    def _set(self, run_id: str, training_id: str, assignments: str, values: tuple[Any, ...],
             only_running: bool = False) -> None:
        guard = " AND status = 'running'" if only_running else ""
        with self._tx() as conn:
            conn.execute(f"UPDATE trainings SET {assignments} WHERE run_id = ? AND training_id = ?{guard}",
                         (*values, run_id, training_id))

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
            conn.execute("UPDATE llm_calls SET parsed_json = ? WHERE run_id = ? AND call_key = ?",
                         (json.dumps(parsed), run_id, call_key))

    def find_llm_call(self, run_id: str, call_key: str) -> LLMCallRecord | None:
        rows = self._query("SELECT * FROM llm_calls WHERE run_id = ? AND call_key = ?", (run_id, call_key))
        return _llm_call(rows[0]) if rows else None

    def list_llm_calls(self, run_id: str) -> list[LLMCallRecord]:
        rows = self._query("SELECT * FROM llm_calls WHERE run_id = ? ORDER BY id", (run_id,))
        return [_llm_call(row) for row in rows]

    # -- rows -> records ---------------------------------------------------------------------

    def _candidate(self, row: sqlite3.Row) -> CandidateRecord:
        return CandidateRecord(
            run_id=row["run_id"], candidate_id=row["candidate_id"], iteration=row["iteration"],
            sample=row["sample"], status=row["status"], reason=row["reason"], code=row["code"],
            code_path=self.absolute(row["code_path"]), extra_dims=row["extra_dims"], created_at=row["created_at"],
        )

    def _training(self, row: sqlite3.Row) -> TrainingRecord:
        return TrainingRecord(
            run_id=row["run_id"], training_id=row["training_id"], purpose=row["purpose"], arm=row["arm"],
            candidate_id=row["candidate_id"], group_id=row["group_id"], seed=int(row["seed"]),
            total_steps=int(row["total_steps"]), algo=row["algo"], shaping=row["shaping"],
            intrinsic_weight=float(row["intrinsic_weight"]), observation=row["observation"], key=row["key"],
            lineage=row["lineage"], status=row["status"], failure=row["failure"], reason=row["reason"],
            score=row["score"], curve=[(int(s), float(v)) for s, v in (_loads(row["curve_json"]) or [])],
            lipschitz=_loads(row["lipschitz_json"]), dim_names=_loads(row["dim_names_json"]),
            steps_done=int(row["steps_done"]), seconds=row["seconds"], steps_per_s=row["steps_per_s"],
            policy_path=self.absolute(row["policy_path"]), checkpoint_dir=self.absolute(row["checkpoint_dir"]),
            worker_pid=row["worker_pid"], executor=row["executor"], node=row["node"],
            resumed_from=row["resumed_from"], rung_step=row["rung_step"], stopped_at_step=row["stopped_at_step"],
            reused_from_run=row["reused_from_run"], reused_from_training=row["reused_from_training"],
            reused_steps=int(row["reused_steps"] or 0), walls=_loads(row["walls_json"]), numerics=row["numerics"],
            settings=_loads(row["settings_json"]), created_at=row["created_at"], started_at=row["started_at"],
            finished_at=row["finished_at"],
        )


# -- helpers -------------------------------------------------------------------------------------


def _verify_existing(path: Path) -> int:
    """Read-only look at an existing file: its schema version; refuses anything that is not our store
    (never writing to it)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
    except sqlite3.Error as exc:
        raise BadInput(f"cannot open the run store {path}: {exc}") from None
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not names:  # an empty database: a store another process is creating right now, or a new file
            return SCHEMA_VERSION
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
    if not 1 <= version <= SCHEMA_VERSION:
        raise BadInput(
            f"{path} has store schema version {version}, this lesr-local reads versions 1 to {SCHEMA_VERSION}"
        )
    return version


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _curve(curve: Curve) -> str:
    return json.dumps([[int(s), float(v)] for s, v in curve])


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"], env_id=row["env_id"], preset=row["preset"], status=row["status"],
        created=row["created"], updated=row["updated"], finished_at=row["finished_at"],
        config=json.loads(row["config_json"]), reason=row["reason"], summary=_loads(row["summary_json"]),
        best_candidate_id=row["best_candidate_id"], best_score=row["best_score"],
        baseline_score=row["baseline_score"], owner_pid=row["owner_pid"], kind=row["kind"],
        owner_started=row["owner_started"],
    )


def _iteration(row: sqlite3.Row) -> IterationRecord:
    return IterationRecord(
        run_id=row["run_id"], iteration=row["iteration"], status=row["status"], analysis=row["analysis"],
        dropped=_loads(row["dropped_json"]) or [], started_at=row["started_at"],
        finished_at=row["finished_at"], prompt=row["prompt"],
    )


def _llm_call(row: sqlite3.Row) -> LLMCallRecord:
    return LLMCallRecord(
        id=row["id"], run_id=row["run_id"], call_key=row["call_key"], purpose=row["purpose"],
        iteration=row["iteration"], sample=row["sample"], attempt=row["attempt"], prompt=row["prompt"],
        reply=row["reply"], prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
        seconds=row["seconds"], finish_reason=row["finish_reason"], parsed=_loads(row["parsed_json"]),
        created_at=row["created_at"],
    )
