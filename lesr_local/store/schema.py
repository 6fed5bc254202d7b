"""SQLite schema of the run store (version-checked on open)."""

from __future__ import annotations

APP_MARK = "lesr-local"
SCHEMA_VERSION = 1

SCHEMA: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        env_id TEXT NOT NULL,
        preset TEXT NOT NULL,
        status TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        finished_at REAL,
        config_json TEXT NOT NULL,
        reason TEXT,
        summary_json TEXT,
        best_candidate_id TEXT,
        best_score REAL,
        baseline_score REAL,
        owner_pid INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS iterations (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        iteration INTEGER NOT NULL,
        status TEXT NOT NULL,
        analysis TEXT,
        dropped_json TEXT,
        started_at REAL NOT NULL,
        finished_at REAL,
        PRIMARY KEY (run_id, iteration)
    )""",
    """CREATE TABLE IF NOT EXISTS candidates (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        candidate_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        iteration INTEGER,
        sample INTEGER,
        seed INTEGER NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        code TEXT,
        code_path TEXT,
        source_candidate_id TEXT,
        extra_dims INTEGER,
        score REAL,
        lipschitz_json TEXT,
        dim_names_json TEXT,
        curve_json TEXT,
        total_steps INTEGER NOT NULL,
        steps_done INTEGER NOT NULL DEFAULT 0,
        seconds REAL,
        steps_per_s REAL,
        policy_path TEXT,
        checkpoint_dir TEXT,
        worker_pid INTEGER,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        PRIMARY KEY (run_id, candidate_id)
    )""",
    """CREATE TABLE IF NOT EXISTS llm_calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        call_key TEXT NOT NULL,
        purpose TEXT NOT NULL,
        iteration INTEGER NOT NULL,
        sample INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        prompt TEXT NOT NULL,
        reply TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        seconds REAL NOT NULL,
        finish_reason TEXT NOT NULL,
        parsed_json TEXT,
        created_at REAL NOT NULL,
        UNIQUE (run_id, call_key)
    )""",
    "CREATE INDEX IF NOT EXISTS candidates_by_run ON candidates(run_id, created_at)",
    "CREATE INDEX IF NOT EXISTS llm_calls_by_run ON llm_calls(run_id, id)",
)

# Columns added after version 1, as (table, column, SQL type). Adding one is backwards compatible:
# a store opened by this version gains the missing ones (ALTER TABLE ... ADD COLUMN, NULL for old
# rows); older code reads rows by column name and never sees them.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("candidates", "executor", "TEXT"),  # "local" | "ray": what ran the training (last attempt)
    ("candidates", "node", "TEXT"),  # the Ray node id, or the host name for local trainings
    ("candidates", "resumed_from", "INTEGER"),  # the checkpoint step the finished training continued from
)
