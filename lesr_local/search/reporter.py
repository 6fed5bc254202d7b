"""Headless progress on stderr (rich): LLM tokens/s, candidate states, env steps with ETA per worker.

At a terminal it keeps live progress bars; without one (logs, CI) it writes plain timestamped lines
and reports training progress at most every `progress_interval` seconds per training.

Everything printed is assembled as rich `Text` from literal pieces: ids, reasons, LLM text and paths
(from a candidate, the LLM or the store) are never read as markup, so a reason like "[/]" prints as
itself instead of raising MarkupError and failing the run (and every resume at the same event).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from lesr_local import events as ev
from lesr_local.experiments.comparison_text import comparison_text
from lesr_local.search.headline import headline_text
from lesr_local.store import CandidateView


def _stderr_console() -> Console:
    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=True, highlight=False, width=160)
    return console


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


class HeadlessReporter:
    """An EventSink that renders events on stderr."""

    def __init__(self, console: Console | None = None, progress_interval: float = 5.0) -> None:
        self.console = console or _stderr_console()
        self.live = self.console.is_terminal
        self.progress_interval = progress_interval
        self._lock = threading.Lock()
        self._last_line: dict[str, float] = {}
        self._tasks: dict[str, TaskID] = {}
        self._progress: Progress | None = None
        self._llm_tokens = 0
        self._llm_started = time.monotonic()
        if self.live:
            self._progress = Progress(
                TextColumn("{task.description}", markup=False), BarColumn(),
                TextColumn("{task.fields[count]}", markup=False), TextColumn("{task.fields[rate]}", markup=False),
                TimeRemainingColumn(), console=self.console, transient=True,
            )
            self._progress.start()

    def close(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None

    # -- events ------------------------------------------------------------------------------

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            handler = getattr(self, f"_on_{type(event).__name__}", None)
            if handler is not None:
                handler(event)

    def _line(self, *parts: str | tuple[str, str], style: str = "") -> None:
        """One timestamped line: plain strings and (text, style) pieces, all literal text."""
        text = Text.assemble((time.strftime("%H:%M:%S"), "dim"), " ", *parts, style=style)
        self.console.print(text, soft_wrap=True)

    def _on_RunStarted(self, e: ev.RunStarted) -> None:
        cfg = e.config
        what = "resuming" if e.resumed else "starting"
        self._line(
            (f"{what} run {e.run_id}", "bold"), f" on {e.env_id} (preset {cfg.get('preset')}: "
            f"K={cfg.get('samples')} I={cfg.get('iterations')} N_small={cfg.get('steps')} "
            f"N={cfg.get('final_steps')} S={cfg.get('seeds')})"
        )

    def _on_Log(self, e: ev.Log) -> None:
        style = {"warning": "yellow", "error": "red"}.get(e.level, "")
        self._line(e.message, style=style)

    def _on_IterationStarted(self, e: ev.IterationStarted) -> None:
        self._line((f"iteration {e.iteration + 1}/{e.iterations}", "bold"))

    def _on_LLMStarted(self, e: ev.LLMStarted) -> None:
        where = "analysis" if e.purpose == "analysis" else f"sample {e.sample + 1} ({e.purpose})"
        if self._progress is not None:
            self._drop_task("llm")
            self._tasks["llm"] = self._progress.add_task(f"LLM {where}", total=None, rate="", count="0 tokens")
            self._llm_tokens = 0
            self._llm_started = time.monotonic()
        else:
            self._line(f"LLM writing {where}, prompt {e.prompt_tokens} tokens")

    def _on_LLMToken(self, e: ev.LLMToken) -> None:
        if self._progress is not None and "llm" in self._tasks:
            self._llm_tokens += 1
            elapsed = max(time.monotonic() - self._llm_started, 1e-6)
            self._progress.update(self._tasks["llm"], advance=1, count=f"{self._llm_tokens} tokens",
                                  rate=f"{self._llm_tokens / elapsed:.1f} tok/s")

    def _on_LLMFinished(self, e: ev.LLMFinished) -> None:
        self._drop_task("llm")
        self._line(
            f"LLM {e.purpose}: {e.completion_tokens} tokens in {e.seconds:.1f}s ({e.tokens_per_s:.1f} tok/s)"
        )

    def _on_CandidateAccepted(self, e: ev.CandidateAccepted) -> None:
        self._line(("accepted", "green"), f" {e.candidate_id} (+{e.extra_dims} dims)")

    def _on_CandidateRejected(self, e: ev.CandidateRejected) -> None:
        verdict = ("rejected", "red") if e.final else ("repairing", "yellow")
        self._line(verdict, f" {e.candidate_id} attempt {e.attempt + 1}: {e.reason}")

    def _on_TrainingStarted(self, e: ev.TrainingStarted) -> None:
        if self._progress is not None:
            self._drop_task(e.training_id)
            self._tasks[e.training_id] = self._progress.add_task(
                f"train {e.training_id}", total=e.total_steps, rate="", count=f"0/{e.total_steps}"
            )
        self._line(f"training {e.training_id}: {e.total_steps} steps, seed {e.seed}")

    def _on_TrainingProgress(self, e: ev.TrainingProgress) -> None:
        if self._progress is not None:
            task = self._tasks.get(e.training_id)
            if task is not None:
                self._progress.update(task, completed=e.step, rate=f"{e.steps_per_s:.0f} steps/s",
                                      count=f"{e.step}/{e.total_steps}")
            return
        now = time.monotonic()
        if now - self._last_line.get(e.training_id, 0.0) >= self.progress_interval:
            self._last_line[e.training_id] = now
            self._line(
                f"  {e.training_id}: {e.step}/{e.total_steps} steps, {e.steps_per_s:.0f} steps/s, "
                f"ETA {e.eta_s:.0f}s"
            )

    def _on_EvaluationDone(self, e: ev.EvaluationDone) -> None:
        if self._progress is None:
            self._line(f"  {e.training_id}: eval at step {e.step}: {e.value:.2f}")

    def _on_TrainingReused(self, e: ev.TrainingReused) -> None:
        self._line(ev.reuse_text(e), style="cyan")

    def _on_TrainingFinished(self, e: ev.TrainingFinished) -> None:
        self._drop_task(e.training_id)
        if e.status == "finished":
            self._line(("finished", "green"), f" {e.training_id}: score {_fmt(e.score)}")
        else:
            self._line((e.status, "red"), f" {e.training_id}: {e.reason}")

    def _on_TrainingPaused(self, e: ev.TrainingPaused) -> None:
        self._drop_task(e.training_id)
        self._line(f"{e.training_id} reached the rung at step {e.step}/{e.total_steps}; "
                   "waiting for the rest of its iteration")

    def _on_TrainingStopped(self, e: ev.TrainingStopped) -> None:
        self._line(f"{e.training_id} stopped at step {e.step}/{e.total_steps} (rung score {_fmt(e.score)}): "
                   "successive halving", style="yellow")

    def _on_IterationFinished(self, e: ev.IterationFinished) -> None:
        best = f"{e.best_candidate_id} (search score {_fmt(e.best_score)}, one seed)" if e.best_candidate_id else "none"
        self._line((f"iteration {e.iteration + 1} done", "bold"), f"; best so far: {best}")

    def _on_FinalEvaluationStarted(self, e: ev.FinalEvaluationStarted) -> None:
        self._line(
            ("final evaluation", "bold"), f": {e.best_candidate_id} and the raw-state baseline, "
            f"{e.seeds} seed(s) x {e.steps} steps"
        )

    def _on_VideoWritten(self, e: ev.VideoWritten) -> None:
        self._line(f"video of {e.candidate_id}: {e.path}")

    def _on_RunFinished(self, e: ev.RunFinished) -> None:
        style = {"finished": "bold green", "interrupted": "yellow"}.get(e.status, "bold red")
        tail = f": {e.reason}" if e.reason else ""
        self._line(f"run {e.run_id} {e.status}{tail}", style=style)

    def _drop_task(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None and self._progress is not None:
            self._progress.remove_task(task)

    # -- end of run --------------------------------------------------------------------------

    def print_summary(self, summary: dict[str, Any], candidates: list[CandidateView]) -> None:
        self.close()
        self.console.print(summary_table(summary, candidates))


def summary_table(summary: dict[str, Any], candidates: list[CandidateView]) -> Table:
    """The end-of-run table; every cell, the title and the caption are literal Text (never markup)."""
    table = Table(title=Text(f"run {summary['run_id']} — {summary['env_id']} — {summary['status']}"),
                  expand=False)
    for name in ("candidate", "iter", "status", "score", "+dims", "note"):
        table.add_column(name)
    best_id = (summary.get("best") or {}).get("candidate_id")
    control = summary.get("control") or summary.get("baseline")
    if control is not None:
        table.add_row("control", "-", str(control.get("status")), _fmt(control.get("score")), "-",
                      "the raw state at the search's budget")
    for cand in candidates:
        note = cand.reason or ("best" if cand.candidate_id == best_id else "")
        table.add_row(*_cells(
            cand.candidate_id, "-" if cand.iteration is None else str(cand.iteration + 1), cand.status,
            _fmt(cand.score), "-" if cand.extra_dims is None else str(cand.extra_dims), note[:70],
        ))
    final = summary.get("final")
    if final:
        for arm, label in (("best", "best"), ("raw" if "raw" in final else "baseline", "raw")):
            data = final[arm]
            table.add_row(*_cells(
                f"final {label}", "", f"{data['seeds']} seeds", f"{_fmt(data['mean'])} ± {_fmt(data['std'])}", "",
                f"IQM {_fmt(data.get('iqm'))}, AUC {_fmt(data.get('auc'))}",
            ))
        imp = final.get("improvement")
        # both intervals the verdict rests on, and its label (experiments/comparison_text.py)
        table.add_row(*_cells("difference", "", "", "-" if imp is None else f"{imp:+.4g}", "",
                              comparison_text(imp, final.get("improvement_relative"), final.get("improvement_ci95"),
                                              final.get("improvement_ci95_t"), final.get("verdict"),
                                              has_t="improvement_ci95_t" in final)))
    caption = [headline_text(summary.get("headline"))]
    if summary.get("verdict"):
        caption.append(str(summary["verdict"]))
    pruning = summary.get("pruning")
    if pruning:
        caption.append(f"successive halving: {pruning['stopped_candidates']} candidate(s) stopped early, "
                       f"{pruning['saved_candidate_steps']} candidate steps saved")
    best = summary.get("best") or {}
    if best.get("selection_mean") is not None:
        caption.append(f"best chosen on fresh seeds: {best['candidate_id']} seed mean {best['selection_mean']:.4g} "
                       f"(search score {_fmt(best.get('score'))})")
    caption.append(env_steps_text(summary))
    table.caption = Text("\n".join(caption))
    return table


def _cells(*values: str) -> list[Text]:
    return [Text(value) for value in values]


def env_steps_text(summary: dict[str, Any]) -> str:
    """Every env step behind the run's numbers, and how many of them were reused rather than trained."""
    text = (f"env steps: {summary['total_env_steps']} total = {summary['search_env_steps']} search "
            f"+ {summary.get('selection_env_steps', 0)} selection + {summary['final_env_steps']} final")
    reused = summary.get("reused_env_steps") or 0
    if reused:
        text += f"; {reused} of them reused from identical trainings in this home, not trained again"
    return text
