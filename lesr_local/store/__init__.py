"""SQLite (WAL) run store + per-run artifact folders; see docs/ARCHITECTURE.md (store/)."""

from lesr_local.store.db import DB_NAME, Store
from lesr_local.store.ids import new_run_id
from lesr_local.store.records import (
    AblationRecord,
    CandidateRecord,
    IterationRecord,
    LLMCallRecord,
    RunRecord,
    TransferRecord,
)

__all__ = [
    "DB_NAME", "AblationRecord", "CandidateRecord", "IterationRecord", "LLMCallRecord", "RunRecord", "Store",
    "TransferRecord", "new_run_id",
]
