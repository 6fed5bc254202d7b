"""SQLite schema of the run store (version-checked on open; older versions are migrated, see migrate.py).

Version 2: every training is a row of `trainings` (search candidates, the search control, the
selection re-evaluations, the final arms, ablation variants, transfer arms); `candidates` keeps only
what the LLM produced. Paths are stored relative to the home, so a home can be moved or copied.
"""

from __future__ import annotations

APP_MARK = "lesr-local"
SCHEMA_VERSION = 2

RUNS = """CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'search',   -- search (lesr run) | evaluation (lesr evaluate)
    env_id TEXT NOT NULL,
    preset TEXT NOT NULL,
    status TEXT NOT NULL,                  -- running | finished | failed | interrupted
    created REAL NOT NULL,
    updated REAL NOT NULL,
    finished_at REAL,
    config_json TEXT NOT NULL,
    reason TEXT,
    summary_json TEXT,
    best_candidate_id TEXT,
    best_score REAL,
    baseline_score REAL,                   -- the search control's score (column name kept from v1)
    owner_pid INTEGER,                     -- the process driving the run, with its start time:
    owner_started REAL                     -- a pid alone can be reused by another process
)"""

ITERATIONS = """CREATE TABLE IF NOT EXISTS iterations (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    iteration INTEGER NOT NULL,
    status TEXT NOT NULL,
    analysis TEXT,
    dropped_json TEXT,
    prompt TEXT,                           -- the iteration's prompt, so a resume sends the same one
    started_at REAL NOT NULL,
    finished_at REAL,
    PRIMARY KEY (run_id, iteration)
)"""

CANDIDATES = """CREATE TABLE IF NOT EXISTS candidates (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    candidate_id TEXT NOT NULL,
    iteration INTEGER,                     -- NULL for code that did not come from the LLM (lesr evaluate)
    sample INTEGER,
    status TEXT NOT NULL,                  -- accepted | rejected (the check's verdict)
    reason TEXT,                           -- why it was rejected
    code TEXT NOT NULL,
    code_path TEXT,
    extra_dims INTEGER,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, candidate_id)
)"""

TRAININGS = """CREATE TABLE IF NOT EXISTS trainings (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    training_id TEXT NOT NULL,
    purpose TEXT NOT NULL,                 -- search | control | selection | final | ablation | transfer
    arm TEXT NOT NULL,                     -- candidate | raw | an ablation variant
    candidate_id TEXT,                     -- the candidate whose F/G it trains (NULL: the raw state)
    group_id TEXT,                         -- an ablation set or a transfer: "<candidate>-n<steps>", "sac-1"
    seed INTEGER NOT NULL,
    total_steps INTEGER NOT NULL,
    algo TEXT NOT NULL DEFAULT 'td3',
    shaping TEXT,                          -- NULL when no intrinsic reward enters (w = 0 or raw)
    intrinsic_weight REAL NOT NULL DEFAULT 0,
    observation TEXT NOT NULL DEFAULT 'features',
    key TEXT NOT NULL,                     -- hash of everything that determines the result (trainings/keys.py)
    lineage TEXT NOT NULL,                 -- the same without the step count (prefix extension)
    settings_json TEXT,                    -- what the key hashes, for people
    status TEXT NOT NULL,                  -- pending | running | finished | failed | cancelled
    failure TEXT,                          -- failed: candidate (its code broke a rule) | infrastructure
    reason TEXT,
    score REAL,
    curve_json TEXT,
    lipschitz_json TEXT,
    dim_names_json TEXT,
    steps_done INTEGER NOT NULL DEFAULT 0,
    seconds REAL,
    steps_per_s REAL,
    policy_path TEXT,
    checkpoint_dir TEXT,
    worker_pid INTEGER,
    executor TEXT,
    node TEXT,
    resumed_from INTEGER,                  -- the own checkpoint step a training continued from
    rung_step INTEGER,                     -- successive halving: the last rung it paused at
    stopped_at_step INTEGER,               -- successive halving cut it here (score = rung score)
    reused_from_run TEXT,                  -- reuse: the training whose result (or prefix) this one is
    reused_from_training TEXT,
    reused_steps INTEGER NOT NULL DEFAULT 0,  -- env steps taken from it instead of trained
    walls_json TEXT,                       -- the sandbox walls the training ran behind
    numerics TEXT,                         -- torch, device and CPU it ran on
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    PRIMARY KEY (run_id, training_id)
)"""

LLM_CALLS = """CREATE TABLE IF NOT EXISTS llm_calls (
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
)"""

SCHEMA: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    RUNS, ITERATIONS, CANDIDATES, TRAININGS, LLM_CALLS,
    "CREATE INDEX IF NOT EXISTS trainings_by_run ON trainings(run_id, created_at)",
    "CREATE INDEX IF NOT EXISTS trainings_by_key ON trainings(key, status)",
    "CREATE INDEX IF NOT EXISTS trainings_by_lineage ON trainings(lineage, status)",
    "CREATE INDEX IF NOT EXISTS candidates_by_run ON candidates(run_id, created_at)",
    "CREATE INDEX IF NOT EXISTS llm_calls_by_run ON llm_calls(run_id, id)",
)
