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
            trainings = store.list_trainings(self.run_id)
            training = next((t for t in trainings if t.training_id == self.candidate_id), None) or next(
                (t for t in trainings if t.purpose == "search" and t.candidate_id == self.candidate_id), None)
            cand_id = training.candidate_id if training is not None else self.candidate_id
            cand = store.find_candidate(self.run_id, cand_id) if cand_id else None
            if training is None and cand is None:
                cand = store.get_candidate(self.run_id, self.candidate_id)  # BadInput naming the id
            iterations = store.list_iterations(self.run_id)
            calls = store.list_llm_calls(self.run_id)
            control = next((t for t in trainings if t.purpose == "control"), None)
        except LesrError as exc:
            self.query_one("#cand-info", Static).update(Text(str(exc), style="red"))
            return
        env_spec = run.config.get("env_spec") if isinstance(run.config, dict) else None
        is_raw = training is not None and training.is_raw
        status = "rejected" if cand is not None and cand.status == "rejected" else (
            training.status if training is not None else "pending")
        iteration = cand.iteration if cand is not None else None
        info = Text.assemble((self.candidate_id, "bold"), f" · run {run.run_id} · {run.env_id} · ",
                             status_text(status))
        if training is not None and training.purpose != "search":
            info.append(f" · {training.purpose} ({'raw state' if is_raw else 'candidate ' + str(cand_id)}), "
                        f"seed {training.seed}")
        if iteration is not None:
            info.append(f" · iteration {iteration + 1}")
        score = training.score if training is not None else None
        if training is not None and training.stopped_at_step is not None:  # scored at its rung, not at N
            info.append(f"\nscore {fmt_score(score)} at step {training.stopped_at_step:,} "
                        "(stopped early by successive halving)")
        else:
            info.append(f"\nscore {fmt_score(score)} · Δ vs control ")
            is_search = training is not None and training.purpose == "search"
            info.append_text(fmt_delta(score, run.baseline_score if is_search else None))
        if cand is not None and cand.extra_dims is not None and not is_raw:
            info.append(f" · +{cand.extra_dims} feature dims")
        if training is not None:
            info.append(f" · {training.env_steps:,}/{training.total_steps:,} steps")
            if training.seconds:
                info.append(f" in {fmt_duration(training.seconds)}")
            if training.executor == "ray" and training.node:
                info.append(f"\ntrained on Ray node {training.node[:12]}")
            if training.reused_from_training:
                info.append(f"\nreused from run {training.reused_from_run} ({training.reused_from_training}, "
                            f"{training.reused_steps:,} steps): the same training, not trained again")
            elif training.resumed_from:
                info.append(f"\ncontinued from its checkpoint at step {training.resumed_from:,}")
        verdict = {"finished": "trained", "rejected": "rejected by the checks", "failed": "failed"}.get(status, status)
        info.append(f"\nverdict: {verdict}")
        reason = (training.reason if training is not None else None) or (cand.reason if cand is not None else None)
        if reason:
            info.append(f" — {reason}", style="yellow")
        videos = find_videos(store.ensure_run_dir(self.run_id), self.candidate_id)
        summary_video = (run.summary or {}).get("video_path") if cand_id == run.best_candidate_id else None
        if summary_video and Path(summary_video) not in videos:
            videos.insert(0, Path(summary_video))
        if videos:
            info.append(f"\nvideo: {videos[0]}")
        else:
            info.append(f"\nvideo: none rendered (lesr render {run.run_id} --candidate {self.candidate_id}"
                        " --out FILE.mp4)", style="dim")
        self.query_one("#cand-info", Static).update(info)

        code = (cand.code if cand is not None and not is_raw else None) or (
            "# the raw state: no revise_state / intrinsic_reward" if is_raw else "# no code was recorded")
        self.query_one("#code", Static).update(Syntax(code, "python", line_numbers=True, word_wrap=False,
                                                      theme="ansi_dark"))
        if training is not None:
            self.query_one(LipschitzChart).set_values(training.lipschitz, dim_names(training, run.env_id, env_spec))

        analysis = Text()
        own = [c for c in calls if cand is not None and c.purpose in ("candidate", "repair")
               and c.iteration == cand.iteration and c.sample == cand.sample]
        if own:
            last = own[-1]
            analysis.append(f"The reply that produced this candidate ({last.purpose}, attempt {last.attempt + 1},"
                            f" {last.completion_tokens} tokens):\n", style="bold")
            analysis.append(last.reply.strip() + "\n\n")
        record = next((r for r in iterations if r.iteration == iteration), None)
        if record is not None and record.analysis:
            analysis.append(f"The LLM's analysis of iteration {record.iteration + 1}:\n", style="bold")
            analysis.append(record.analysis.strip() + "\n")
        if not analysis.plain:
            analysis.append("no LLM text recorded for this candidate", style="dim")
        self.query_one("#analysis", Static).update(analysis)

        series: dict[str, list[tuple[int, float]]] = {}
        if control is not None and control.curve and not is_raw:
            series["control"] = list(control.curve)
        if training is not None:
            series[self.candidate_id] = list(training.curve)
        curves = self.query_one(CurvesPlot)
        curves.ylabel = metric_label(run)
        curves.set_series(series)
        self.query_one("#code-scroll").focus()

    def action_tab(self, tab: str) -> None:
        switch_tab(self.query_one("#cand-tabs", TabbedContent), tab)
