"""SQLite (WAL) run store + per-run artifact folders; see docs/architecture.md."""

from lesr_local.store.db import DB_NAME, NewTraining, Store
from lesr_local.store.ids import new_run_id
from lesr_local.store.records import (
    CANDIDATE_ARM,
    CANDIDATE_FAILURE,
    INFRASTRUCTURE_FAILURE,
    RAW_ARM,
    CandidateRecord,
    CandidateView,
    IterationRecord,
    LLMCallRecord,
    RunRecord,
    TrainingRecord,
)

__all__ = [
    "CANDIDATE_ARM", "CANDIDATE_FAILURE", "DB_NAME", "INFRASTRUCTURE_FAILURE", "RAW_ARM", "CandidateRecord",
    "CandidateView", "IterationRecord", "LLMCallRecord", "NewTraining", "RunRecord", "Store", "TrainingRecord",
    "new_run_id",
]
