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
    # `lesr ablate`: one row per (variant, seed) training of a run's best candidate at a step
    # budget. Added without a version bump: CREATE IF NOT EXISTS gives older stores the table on
    # open, and an older lesr-local simply ignores it.
    """CREATE TABLE IF NOT EXISTS ablations (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        candidate_id TEXT NOT NULL,
        steps INTEGER NOT NULL,
        variant TEXT NOT NULL,
        seed INTEGER NOT NULL,
        status TEXT NOT NULL,
        shaping TEXT,
        score REAL,
        auc REAL,
        curve_json TEXT,
        reason TEXT,
        seconds REAL,
        created_at REAL NOT NULL,
        finished_at REAL,
        PRIMARY KEY (run_id, candidate_id, steps, variant, seed)
    )""",
    # Transfers (lesr transfer, paper §4.5): the run's best F/G and the raw state trained with another
    # algorithm over paired seeds. Added without a version bump: CREATE IF NOT EXISTS on every open
    # gives older stores the table (additive migration).
    """CREATE TABLE IF NOT EXISTS transfers (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        transfer_id TEXT NOT NULL,
        algo TEXT NOT NULL,
        arm TEXT NOT NULL,
        seed INTEGER NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        source_candidate_id TEXT,
        score REAL,
        curve_json TEXT,
        total_steps INTEGER NOT NULL,
        steps_done INTEGER NOT NULL DEFAULT 0,
        seconds REAL,
        steps_per_s REAL,
        policy_path TEXT,
        checkpoint_dir TEXT,
        created_at REAL NOT NULL,
        finished_at REAL,
        PRIMARY KEY (run_id, transfer_id, arm, seed)
    )""",
    "CREATE INDEX IF NOT EXISTS candidates_by_run ON candidates(run_id, created_at)",
    "CREATE INDEX IF NOT EXISTS llm_calls_by_run ON llm_calls(run_id, id)",
)

# Columns added since version 1 shipped, as (table, column, SQL type): nullable, so a store written
# before them stays readable; Store adds the missing ones when it opens a file.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("candidates", "rung_step", "INTEGER"),  # successive halving: the last rung step it paused at
    ("candidates", "stopped_at_step", "INTEGER"),  # successive halving: cut at this step (score = rung score)
    ("candidates", "executor", "TEXT"),  # "local" | "ray": what ran the training (last attempt)
    ("candidates", "node", "TEXT"),  # the Ray node id, or the host name for local trainings
    ("candidates", "resumed_from", "INTEGER"),  # the checkpoint step the finished training continued from
)
