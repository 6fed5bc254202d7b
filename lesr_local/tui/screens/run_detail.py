"""Run detail: status and final evaluation, the candidates of every iteration, the LLM's analyses, config."""

from __future__ import annotations

from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from lesr_local.errors import LesrError
from lesr_local.experiments.ablation import ablation_report, difference_text
from lesr_local.experiments.comparison_text import comparison_text, label_style
from lesr_local.search.headline import headline_text, run_headline
from lesr_local.tui.format import (
    fmt_delta,
    fmt_duration,
    fmt_mean_std,
    fmt_score,
    fmt_time,
    plain,
    status_text,
)
from lesr_local.tui.screens.more_seeds import MoreSeedsScreen
from lesr_local.tui.services import AppServices
from lesr_local.tui.widgets.transfer_panel import TransferPanel


def final_lines(summary: dict[str, Any] | None) -> list[Text]:
    """The final evaluation as text: paired means ± std, IQM, AUC, difference with its interval, verdict."""
    if not summary:
        return []
    lines: list[Text] = []
    final = summary.get("final") or {}
    for name, key in (("best", "best"), ("raw", "raw" if "raw" in final else "baseline")):
        part = final.get(key) or {}
        if part.get("mean") is not None:
            seeds = part.get("seeds")
            count = len(seeds) if isinstance(seeds, list) else seeds
            extra = "" if part.get("iqm") is None else (
                f" · IQM {fmt_score(part['iqm'])} · AUC {fmt_score(part.get('auc'))}")
            lines.append(Text(f"  {name:<9}{fmt_mean_std(part['mean'], part.get('std'))}  over {count} seed(s)"
                              f"{extra}"))
    if final.get("improvement") is not None and "improvement_ci95" in final:
        # Both intervals the verdict rests on, and its label: the bootstrap one alone (over 2 seeds just
        # their range) above "no detectable difference" would read as a contradiction.
        label = final.get("verdict")
        lines.append(Text("  " + comparison_text(final["improvement"], final.get("improvement_relative"),
                                                 final.get("improvement_ci95"), final.get("improvement_ci95_t"),
                                                 label, has_t="improvement_ci95_t" in final),
                          style=label_style(label)))
    for gone in final.get("excluded_seeds") or []:
        lines.append(Text(f"  seed {gone['seed']} excluded from both arms: {gone['reason']}", style="yellow"))
    if summary.get("verdict"):
        lines.append(Text(f"  verdict: {summary['verdict']}"))
    if summary.get("total_env_steps") is not None:
        lines.append(Text(f"  total env steps (search + selection + final): {summary['total_env_steps']:,}"))
    return lines


class RunDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open_candidate", "Candidate", priority=False),
        Binding("r", "resume", "Resume"),
        Binding("s", "more_seeds", "More seeds"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, services: AppServices, run_id: str) -> None:
        super().__init__()
        self.services = services
        self.run_id = run_id
        self.run: Any = None
        self.candidates: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="run-info", classes="detail")
        with TabbedContent(id="run-tabs", initial="run-candidates"):
            with TabPane("Candidates", id="run-candidates"):
                yield DataTable(id="run-candidates-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Iterations", id="run-iterations"), VerticalScroll():
                yield Static("", id="iterations-text")
            with TabPane("Ablations", id="run-ablations"), VerticalScroll():
                yield Static("", id="ablations-text")
            with TabPane("Config", id="run-config"), VerticalScroll():
                yield Static("", id="config-text")
            with TabPane("Transfer", id="run-transfer"):
                yield TransferPanel(self.services.store, self.run_id, id="transfer-panel")
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
        store = self.services.store
        try:
            self.run = store.get_run(self.run_id)
            views = store.candidate_views(self.run_id)
            trainings = store.list_trainings(self.run_id)
            iterations = store.list_iterations(self.run_id)
        except LesrError as exc:
            self.query_one("#run-info", Static).update(Text(str(exc), style="red"))
            return
        run = self.run
        baseline = run.baseline_score
        info = Text.assemble(
            (run.run_id, "bold"), f" · {run.env_id} · preset {run.preset} · ", status_text(run.status),
            f" · shaping {run.config.get('shaping', 'additive')} · created {fmt_time(run.created)}",
        )
        if run.config.get("executor") == "ray":
            info.append(f" · on Ray ({run.config.get('ray_address') or 'local'})")
        if run.finished_at:
            info.append(f" · took {fmt_duration(run.finished_at - run.created)}")
        info.append(f"\n{headline_text(run_headline(run))}")
        info.append(f"\nsearch: best {run.best_candidate_id or '—'} {fmt_score(run.best_score)}"
                    f" · control {fmt_score(baseline)} (one seed each)")
        if run.reason:
            info.append(f"\nreason: {run.reason}", style="yellow")
        for line in final_lines(run.summary):
            info.append("\n")
            info.append_text(line)
        self.query_one("#run-info", Static).update(info)

        table = self.query_one("#run-candidates-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        iteration_of = {v.candidate_id: v.iteration for v in views}
        rows: list[tuple[float, str, tuple[Any, ...]]] = []  # in the order they came to be
        for view in views:
            if view.training is None:  # rejected, or not trained yet
                rows.append((view.candidate.created_at, view.candidate_id, (
                    plain(view.candidate_id), "search", plain("" if view.iteration is None else view.iteration),
                    status_text(view.status), Text("-", justify="right"), Text(""),
                    plain(_one_line(view.reason or "")))))
        for t in trainings:
            if t.purpose in ("ablation", "transfer"):
                continue
            iteration = iteration_of.get(t.candidate_id) if t.purpose == "search" else None
            note = (f"reused from {t.reused_from_run}" if t.reused_from_training and t.reused_steps >= t.total_steps
                    else t.reason or "")
            kind = t.purpose if t.purpose == "search" else f"{t.purpose} · {'raw' if t.is_raw else t.candidate_id}"
            rows.append((t.created_at, t.training_id, (
                plain(t.training_id), plain(kind), plain("" if iteration is None else iteration), status_text(t.status),
                Text(fmt_score(t.score), justify="right"),
                fmt_delta(t.score, baseline if t.purpose == "search" and t.stopped_at_step is None else None),
                plain(_one_line(note)))))
        rows.sort(key=lambda row: row[0])
        self.candidates = [key for _, key, _ in rows]
        for _, key, cells in rows:
            table.add_row(*cells, key=key)
        if self.candidates:
            table.move_cursor(row=max(0, min(cursor, len(self.candidates) - 1)))

        text = Text()
        for record in iterations:
            text.append(f"Iteration {record.iteration + 1} · {record.status}\n", style="bold")
            for view in views:
                if view.iteration == record.iteration:
                    text.append(f"  {view.candidate_id:<10} {view.status:<9} {fmt_score(view.score)}\n")
            if record.dropped:
                text.append(f"  left out of the next prompt to fit the context: {', '.join(record.dropped)}\n",
                            style="dim")
            if record.analysis:
                text.append("  LLM analysis:\n", style="italic")
                text.append("    " + record.analysis.strip().replace("\n", "\n    ") + "\n")
            text.append("\n")
        self.query_one("#iterations-text", Static).update(text if iterations else Text("no iteration yet", "dim"))
        self.query_one("#ablations-text", Static).update(ablation_text(trainings))
        import tomli_w

        try:
            config_text = tomli_w.dumps(_without_none(run.config))
        except (TypeError, ValueError):
            config_text = repr(run.config)
        self.query_one("#config-text", Static).update(Syntax(config_text, "toml", theme="ansi_dark"))

    def action_open_candidate(self) -> None:
        table = self.query_one("#run-candidates-table", DataTable)
        if self.candidates and 0 <= table.cursor_row < len(self.candidates):
            self.services.open_candidate(self.run_id, self.candidates[table.cursor_row])

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        self.action_open_candidate()

    def action_resume(self) -> None:
        self.services.resume_run(self.run_id)

    def action_more_seeds(self) -> None:
        """More paired seeds for a finished run's final evaluation (only the missing ones train)."""
        run = self.run
        if run is None or run.status != "finished" or run.kind != "search":
            self.notify("more seeds: only a finished search run's final evaluation takes them", severity="warning")
            return
        have = int(run.config.get("seeds", 1))
        suggested = ((run.summary or {}).get("final") or {}).get("seeds_for_detection")
        proposal = suggested if isinstance(suggested, int) and have < suggested <= 50 else have + 3

        def chosen(seeds: int | None) -> None:
            if seeds is not None:
                self.services.resume_run(self.run_id, seeds=seeds)

        self.app.push_screen(MoreSeedsScreen(self.run_id, have, proposal, suggested), chosen)


def ablation_text(records: list[Any]) -> Text:
    """`lesr ablate` results: per variant the seeds' scores, mean ± std, IQM and the paired
    difference from raw with its 95% interval."""
    reports = ablation_report(records)
    if not reports:
        return Text("no ablation yet: run `lesr ablate RUN_ID` (variants full, features_only, reward_only, "
                    "potential, raw on paired seeds)", style="dim")
    text = Text()
    for report in reports:
        text.append(f"Ablation of {report['candidate_id']} · {report['steps']:,} steps · seeds {report['seeds']}\n",
                    style="bold")
        diffs = {d["variant"]: d for d in report["differences_from_raw"]}
        for v in report["variants"]:
            seeds = ", ".join("—" if p["score"] is None else fmt_score(p["score"]) for p in v["per_seed"])
            text.append(f"  {v['variant']:<14}{fmt_mean_std(v['mean'], v['std']):<20} IQM {fmt_score(v['iqm']):<9}")
            d = diffs.get(v["variant"])
            if d is not None and d["mean_difference"] is not None:
                delta, direction = difference_text(d)
                style = {"better": "green", "worse": "red"}.get(direction, "")
                text.append(f" Δ raw {delta}", style=style)
            text.append(f"  ({seeds})\n", style="dim")
        text.append("\n")
    return text


def _one_line(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _without_none(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_none(v) for k, v in data.items() if v is not None}
    return data
