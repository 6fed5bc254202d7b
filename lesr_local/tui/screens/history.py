"""History: every run in the workspace's store, newest first; open one, or resume a stopped one."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from lesr_local.errors import LesrError
from lesr_local.procs import pid_alive
from lesr_local.search.headline import run_headline
from lesr_local.tui.format import fmt_score, fmt_time, plain, status_text
from lesr_local.tui.services import AppServices


class HistoryScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open", show=True, priority=False),
        Binding("r", "resume", "Resume"),
        Binding("f5", "refresh", "Refresh"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, services: AppServices) -> None:
        super().__init__()
        self.services = services
        self.runs: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("History", classes="screen-title")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="history-hint", classes="detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        for key, label in (("run", "Run"), ("env", "Env"), ("status", "Status"), ("kind", "Score"),
                           ("best", "Best"), ("baseline", "Baseline"), ("delta", "Δ"), ("created", "Created"),
                           ("preset", "Preset")):
            table.add_column(label, key=key)
        self.action_refresh()
        table.focus()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        hint = self.query_one("#history-hint", Static)
        try:
            self.runs = self.services.store.list_runs()
        except LesrError as exc:
            hint.update(Text(str(exc), style="red"))
            return
        cursor = table.cursor_row
        table.clear()
        for run in self.runs:
            status = run.status
            if status == "running" and not self.services.is_live(run.run_id) and not pid_alive(run.owner_pid):
                status = "interrupted"
            head = run_headline(run)
            table.add_row(
                plain(run.run_id), plain(run.env_id), status_text(status), *headline_cells(head),
                fmt_time(run.created), plain(run.preset), key=run.run_id,
            )
        if self.runs:
            table.move_cursor(row=min(cursor, len(self.runs) - 1))
            hint.update("enter open · r resume a stopped run · f5 refresh · esc back")
        else:
            hint.update("No runs yet. Start one from New run (esc, then n) or with `lesr run`.")

    def _selected(self) -> Any | None:
        table = self.query_one("#runs-table", DataTable)
        if not self.runs or table.cursor_row < 0 or table.cursor_row >= len(self.runs):
            return None
        return self.runs[table.cursor_row]

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        run = self._selected()
        if run is not None:
            self.services.open_run(run.run_id)

    def action_resume(self) -> None:
        run = self._selected()
        if run is not None:
            self.services.resume_run(run.run_id)



def headline_cells(head: dict[str, Any] | None) -> tuple[Text, Text, Text, Text]:
    """Score kind, best, baseline, Δ: the paired final comparison, or a search score with no Δ."""
    if head is None:
        return Text("—", style="dim"), Text("—", justify="right"), Text("—", justify="right"), Text("—", style="dim")
    best = Text(fmt_score(head["best"]), justify="right")
    baseline = Text(fmt_score(head["baseline"]), justify="right")
    if head["kind"] != "final":
        # One seed, best of many: not an improvement estimate, so no Δ.
        return Text("search", style="dim"), best, baseline, Text("—", style="dim", justify="right")
    diff = head.get("improvement")
    verdict = head.get("verdict") or ""
    style = {"better": "green", "worse": "red"}.get(verdict, "")
    delta = Text("—" if diff is None else f"{diff:+.4g} {verdict}".strip(), style=style, justify="right")
    return Text(f"final ×{head.get('seeds')}", style="bold"), best, baseline, delta
