"""The live candidates table: one row per candidate, cells updated in place as events arrive."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from lesr_local.tui.format import fmt_delta, fmt_progress, fmt_score, plain, status_text

COLUMNS: tuple[tuple[str, str], ...] = (
    ("candidate", "Candidate"), ("iteration", "It"), ("status", "Status"), ("progress", "Progress"),
    ("score", "Score"), ("delta", "Δ base"),
)


def compared(candidate_id: str) -> bool:
    """Only search candidates get a Δ against the search baseline (final-* rows pair up per seed)."""
    return candidate_id.startswith("i") and "-k" in candidate_id


def _at_full_length(row: dict[str, Any]) -> bool:
    # A candidate stopped early by successive halving is scored at its rung, not at the baseline's step.
    return compared(row["candidate"]) and row.get("status") != "stopped"


class CandidatesTable(DataTable[Any]):
    """Rows keyed by candidate id; `upsert` touches only the cells that changed."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self._values: dict[str, dict[str, Any]] = {}
        self.baseline: float | None = None
        self.higher_is_better = True

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def _cells(self, row: dict[str, Any]) -> dict[str, Any]:
        iteration = row.get("iteration")
        return {
            "candidate": plain(row["candidate"]),
            "iteration": plain("" if iteration is None else iteration),
            "status": status_text(row.get("status", "pending")),
            "progress": fmt_progress(row.get("step"), row.get("total")),
            "score": Text(fmt_score(row.get("score")), justify="right"),
            "delta": fmt_delta(row.get("score"), self.baseline if _at_full_length(row) else None),
        }

    def upsert(self, candidate_id: str, **fields: Any) -> None:
        """Add the candidate's row or update just the changed cells."""
        row = self._values.get(candidate_id)
        if row is None:
            row = {"candidate": candidate_id, **fields}
            self._values[candidate_id] = row
            cells = self._cells(row)
            self.add_row(*(cells[key] for key, _ in COLUMNS), key=candidate_id)
            return
        before = self._cells(row)
        row.update(fields)
        after = self._cells(row)
        for key, _ in COLUMNS:
            if str(after[key]) != str(before[key]):
                self.update_cell(candidate_id, key, after[key], update_width=True)

    def set_baseline(self, score: float | None) -> None:
        """The raw-state score every Δ is measured against; refreshes the Δ column."""
        self.baseline = score
        for candidate_id, row in self._values.items():
            delta = fmt_delta(row.get("score"), score if _at_full_length(row) else None)
            self.update_cell(candidate_id, "delta", delta, update_width=True)

    def value(self, candidate_id: str, field: str) -> Any:
        return self._values.get(candidate_id, {}).get(field)

    @property
    def candidate_ids(self) -> list[str]:
        return list(self._values)
