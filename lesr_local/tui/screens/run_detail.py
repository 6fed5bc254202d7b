"""Run detail: status and final evaluation, the candidates of every iteration, the LLM's analyses, config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from lesr_local.errors import LesrError
from lesr_local.tui.format import fmt_delta, fmt_duration, fmt_mean_std, fmt_score, fmt_time, status_text

if TYPE_CHECKING:
    from lesr_local.tui.app import LesrApp


def final_lines(summary: dict[str, Any] | None) -> list[Text]:
    """The final evaluation as text: best vs baseline, mean ± std over seeds, relative improvement."""
    if not summary:
        return []
    lines: list[Text] = []
    final = summary.get("final") or {}
    for name in ("best", "baseline"):
        part = final.get(name) or {}
        if part.get("mean") is not None:
            seeds = part.get("seeds")
            count = len(seeds) if isinstance(seeds, list) else seeds
            lines.append(Text(f"  {name:<9}{fmt_mean_std(part['mean'], part.get('std'))}  over {count} seed(s)"))
    if final.get("improvement") is not None:
        change = float(final["improvement"])
        lines.append(Text(f"  improvement {change:+.1%}", style="bold green" if change > 0 else "bold red"))
    if summary.get("total_env_steps") is not None:
        lines.append(Text(f"  total env steps (search + final): {summary['total_env_steps']:,}"))
    return lines


class RunDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open_candidate", "Candidate", priority=False),
        Binding("r", "resume", "Resume"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.run: Any = None
        self.candidates: list[Any] = []

    @property
    def lesr_app(self) -> LesrApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="run-info", classes="detail")
        with TabbedContent(id="run-tabs", initial="run-candidates"):
            with TabPane("Candidates", id="run-candidates"):
                yield DataTable(id="run-candidates-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Iterations", id="run-iterations"), VerticalScroll():
                yield Static("", id="iterations-text")
            with TabPane("Config", id="run-config"), VerticalScroll():
                yield Static("", id="config-text")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#run-candidates-table", DataTable)
        for key, label in (("candidate", "Candidate"), ("kind", "Kind"), ("iteration", "It"),
                           ("status", "Status"), ("score", "Score"), ("delta", "Δ base"), ("reason", "Reason")):
            table.add_column(label, key=key)
        self.reload()
        table.focus()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        store = self.lesr_app.store
        try:
            self.run = store.get_run(self.run_id)
            self.candidates = store.list_candidates(self.run_id)
            iterations = store.list_iterations(self.run_id)
        except LesrError as exc:
            self.query_one("#run-info", Static).update(Text(str(exc), style="red"))
            return
        run = self.run
        baseline = run.baseline_score
        info = Text.assemble(
            (run.run_id, "bold"), f" · {run.env_id} · preset {run.preset} · ", status_text(run.status),
            f" · created {fmt_time(run.created)}",
        )
        if run.config.get("executor") == "ray":
            info.append(f" · on Ray ({run.config.get('ray_address') or 'local'})")
        if run.finished_at:
            info.append(f" · took {fmt_duration(run.finished_at - run.created)}")
        info.append(f"\nbest {run.best_candidate_id or '—'} {fmt_score(run.best_score)}"
                    f" · baseline {fmt_score(baseline)} · Δ ")
        info.append_text(fmt_delta(run.best_score, baseline))
        if run.reason:
            info.append(f"\nreason: {run.reason}", style="yellow")
        for line in final_lines(run.summary):
            info.append("\n")
            info.append_text(line)
        self.query_one("#run-info", Static).update(info)

        table = self.query_one("#run-candidates-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for cand in self.candidates:
            table.add_row(
                cand.candidate_id, cand.kind, "" if cand.iteration is None else str(cand.iteration),
                status_text(cand.status), Text(fmt_score(cand.score), justify="right"),
                fmt_delta(cand.score, baseline if cand.kind == "search" else None),
                _one_line(cand.reason or ""), key=cand.candidate_id,
            )
        if self.candidates:
            table.move_cursor(row=max(0, min(cursor, len(self.candidates) - 1)))

        text = Text()
        for record in iterations:
            text.append(f"Iteration {record.iteration + 1} · {record.status}\n", style="bold")
            for cand in self.candidates:
                if cand.iteration == record.iteration and cand.kind == "search":
                    text.append(f"  {cand.candidate_id:<10} {cand.status:<9} {fmt_score(cand.score)}\n")
            if record.dropped:
                text.append(f"  left out of the next prompt to fit the context: {', '.join(record.dropped)}\n",
                            style="dim")
            if record.analysis:
                text.append("  LLM analysis:\n", style="italic")
                text.append("    " + record.analysis.strip().replace("\n", "\n    ") + "\n")
            text.append("\n")
        self.query_one("#iterations-text", Static).update(text if iterations else Text("no iteration yet", "dim"))
        import tomli_w

        try:
            config_text = tomli_w.dumps(_without_none(run.config))
        except (TypeError, ValueError):
            config_text = repr(run.config)
        self.query_one("#config-text", Static).update(Syntax(config_text, "toml", theme="ansi_dark"))

    def action_open_candidate(self) -> None:
        table = self.query_one("#run-candidates-table", DataTable)
        if self.candidates and 0 <= table.cursor_row < len(self.candidates):
            from lesr_local.tui.screens.candidate_detail import CandidateDetailScreen

            self.app.push_screen(CandidateDetailScreen(self.run_id, self.candidates[table.cursor_row].candidate_id))

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        self.action_open_candidate()

    def action_resume(self) -> None:
        self.lesr_app.resume_run(self.run_id)


def _one_line(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _without_none(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_none(v) for k, v in data.items() if v is not None}
    return data
