"""Candidate detail: its code (highlighted), verdict and reason, per-dim Lipschitz chart, the LLM's
analysis, its learning curve against the baseline's, and the rendered video's path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from lesr_local.envs.catalogue import get_env_info
from lesr_local.errors import LesrError
from lesr_local.plots import metric_label
from lesr_local.tui.format import fmt_delta, fmt_duration, fmt_score, status_text
from lesr_local.tui.services import AppServices
from lesr_local.tui.tabs import switch_tab
from lesr_local.tui.widgets.charts import CurvesPlot, LipschitzChart


def dim_names(record: Any, env_id: str, env_spec: str | None) -> list[str]:
    """One name per Lipschitz entry: the store's names, else the env's dim meanings then 'extra k'."""
    count = len(record.lipschitz or [])
    if record.dim_names and len(record.dim_names) >= count:
        return list(record.dim_names)[:count]
    names: list[str] = []
    try:
        info = get_env_info(env_id, env_spec)
        names = [f"s[{d.index}] {d.description}" for d in info.dims]
    except LesrError:
        names = []
    names = names[:count]
    names += [f"extra {i}" for i in range(count - len(names))]
    return names


def find_videos(run_dir: Path, candidate_id: str) -> list[Path]:
    if not run_dir.is_dir():
        return []
    return sorted(p for p in run_dir.rglob("*") if p.suffix.lower() in (".mp4", ".gif") and candidate_id in p.name)


class CandidateDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("1", "tab('cand-code')", "Code"),
        Binding("2", "tab('cand-lipschitz')", "Lipschitz"),
        Binding("3", "tab('cand-analysis')", "Analysis"),
        Binding("4", "tab('cand-curve')", "Curve"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, services: AppServices, run_id: str, candidate_id: str) -> None:
        super().__init__()
        self.services = services
        self.run_id = run_id
        self.candidate_id = candidate_id

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="cand-info", classes="detail")
        with TabbedContent(id="cand-tabs", initial="cand-code"):
            with TabPane("Code", id="cand-code"), VerticalScroll(id="code-scroll"):
                yield Static("", id="code")
            with TabPane("Lipschitz", id="cand-lipschitz"):
                yield LipschitzChart(id="lipschitz")
            with TabPane("Analysis", id="cand-analysis"), VerticalScroll():
                yield Static("", id="analysis")
            with TabPane("Curve", id="cand-curve"):
                yield CurvesPlot(id="cand-curves", title="Evaluation")
        yield Footer()

    def on_mount(self) -> None:
        store = self.services.store
        try:
            run = store.get_run(self.run_id)
            cand = store.get_candidate(self.run_id, self.candidate_id)
            iterations = store.list_iterations(self.run_id)
            calls = store.list_llm_calls(self.run_id)
            baseline_record = store.find_candidate(self.run_id, "baseline")
        except LesrError as exc:
            self.query_one("#cand-info", Static).update(Text(str(exc), style="red"))
            return
        env_spec = run.config.get("env_spec") if isinstance(run.config, dict) else None
        is_baseline = cand.kind in ("baseline", "selection-baseline", "final-baseline")
        info = Text.assemble(
            (cand.candidate_id, "bold"), f" · run {run.run_id} · {run.env_id} · ", status_text(cand.status),
        )
        if cand.iteration is not None:
            info.append(f" · iteration {cand.iteration + 1}")
        if cand.stopped_at_step is not None:  # scored at its rung: not comparable with scores at N
            info.append(f"\nscore {fmt_score(cand.score)} at step {cand.stopped_at_step:,} "
                        "(stopped early by successive halving)")
        else:
            info.append(f"\nscore {fmt_score(cand.score)} · Δ vs baseline ")
            info.append_text(fmt_delta(cand.score, run.baseline_score if cand.kind == "search" else None))
        if cand.extra_dims is not None:
            info.append(f" · +{cand.extra_dims} feature dims")
        info.append(f" · {cand.steps_done:,}/{cand.total_steps:,} steps")
        if cand.seconds:
            info.append(f" in {fmt_duration(cand.seconds)}")
        if cand.executor == "ray" and cand.node:
            info.append(f"\ntrained on Ray node {cand.node[:12]}")
        if cand.resumed_from:
            info.append(f"\ncontinued from its checkpoint at step {cand.resumed_from:,}")
        verdict = {"finished": "trained", "rejected": "rejected by the checks", "failed": "failed"}.get(
            cand.status, cand.status)
        info.append(f"\nverdict: {verdict}")
        if cand.reason:
            info.append(f" — {cand.reason}", style="yellow")
        videos = find_videos(store.ensure_run_dir(self.run_id), cand.candidate_id)
        is_best = cand.candidate_id == run.best_candidate_id or (
            cand.kind == "final-best" and cand.source_candidate_id == run.best_candidate_id)
        summary_video = (run.summary or {}).get("video_path") if is_best else None
        if summary_video and Path(summary_video) not in videos:
            videos.insert(0, Path(summary_video))
        if videos:
            info.append(f"\nvideo: {videos[0]}")
        else:
            info.append(f"\nvideo: none rendered (lesr render {run.run_id} --candidate {cand.candidate_id}"
                        " --out FILE.mp4)", style="dim")
        self.query_one("#cand-info", Static).update(info)

        code = cand.code or ("# the raw-state baseline: no revise_state / intrinsic_reward" if is_baseline
                             else "# no code was recorded for this candidate")
        self.query_one("#code", Static).update(Syntax(code, "python", line_numbers=True, word_wrap=False,
                                                      theme="ansi_dark"))
        self.query_one(LipschitzChart).set_values(cand.lipschitz, dim_names(cand, run.env_id, env_spec))

        analysis = Text()
        own = [c for c in calls if c.purpose in ("candidate", "repair") and c.iteration == cand.iteration
               and c.sample == cand.sample]
        if own:
            last = own[-1]
            analysis.append(f"The reply that produced this candidate ({last.purpose}, attempt {last.attempt + 1},"
                            f" {last.completion_tokens} tokens):\n", style="bold")
            analysis.append(last.reply.strip() + "\n\n")
        record = next((r for r in iterations if r.iteration == cand.iteration), None)
        if record is not None and record.analysis:
            analysis.append(f"The LLM's analysis of iteration {record.iteration + 1}:\n", style="bold")
            analysis.append(record.analysis.strip() + "\n")
        if not analysis.plain:
            analysis.append("no LLM text recorded for this candidate", style="dim")
        self.query_one("#analysis", Static).update(analysis)

        series: dict[str, list[tuple[int, float]]] = {}
        if baseline_record is not None and baseline_record.curve and not is_baseline:
            series["baseline"] = list(baseline_record.curve)
        series[cand.candidate_id] = list(cand.curve)
        curves = self.query_one(CurvesPlot)
        curves.ylabel = metric_label(run)
        curves.set_series(series)
        self.query_one("#code-scroll").focus()

    def action_tab(self, tab: str) -> None:
        switch_tab(self.query_one("#cand-tabs", TabbedContent), tab)
