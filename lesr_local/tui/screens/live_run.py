"""Live run: candidates, the LLM's text as it streams, learning curves, the log and a frame preview."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, RichLog, Static, TabbedContent, TabPane

from lesr_local import events as ev
from lesr_local.errors import LesrError
from lesr_local.render.frames import render_frames
from lesr_local.search.headline import headline_text
from lesr_local.store.db import Store
from lesr_local.tui.format import fmt_duration, fmt_score
from lesr_local.tui.services import AppServices
from lesr_local.tui.session import CONTROL_IDS, CandidateLive, RunSession, event_log_line, llm_phase
from lesr_local.tui.tabs import switch_tab
from lesr_local.tui.widgets.candidates_table import CandidatesTable
from lesr_local.tui.widgets.charts import CurvesPlot
from lesr_local.tui.widgets.frame_view import FrameView
from lesr_local.tui.widgets.llm_stream import LLMStream

PREVIEW_EVERY_S = 8.0
LOG_STYLES = {"info": "", "warning": "yellow", "error": "bold red"}


class LiveRunScreen(Screen[None]):
    BINDINGS = [
        Binding("c", "cancel_run", "Cancel run"),
        Binding("b", "background", "Background"),
        Binding("escape", "background", "Background", show=False),
        Binding("p", "toggle_preview", "Preview"),
        Binding("1", "tab('live-llm')", "LLM", show=False),
        Binding("2", "tab('live-curves')", "Curves", show=False),
        Binding("3", "tab('live-log')", "Log", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, services: AppServices, session: RunSession, preview: bool = True) -> None:
        super().__init__()
        self.services = services
        self.session = session
        self.preview_enabled = preview
        self._preview_key: tuple[str | None, str | None] | None = None
        self._preview_at = 0.0
        self._showing_policy = False
        self._previewing = False
        self.ready = False  # set once on_mount caught up with the session's state

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="run-status")
        with Horizontal(id="live-top"):
            yield CandidatesTable(id="candidates")
            with Vertical(id="preview-box"):
                yield FrameView(id="preview")
                yield Static("", id="preview-caption")
        with TabbedContent(id="live-tabs", initial="live-llm"):
            with TabPane("LLM", id="live-llm"):
                yield LLMStream(id="llm-text")
            with TabPane("Curves", id="live-curves"):
                yield CurvesPlot(id="curves")
            with TabPane("Log", id="live-log"):
                yield RichLog(id="log", wrap=True, markup=False, max_lines=2000)
        yield Footer()

    # ------------------------------------------------------------------ catch-up and events

    def on_mount(self) -> None:
        state = self.session.state
        table = self.query_one(CandidatesTable)
        table.baseline = state.baseline
        for row in state.candidates.values():
            self._upsert(table, row)
        stream = self.query_one(LLMStream)
        if state.llm_text:
            stream.write(state.llm_text)
        self.query_one(CurvesPlot).set_series({c.candidate_id: c.curve for c in state.candidates.values()})
        log = self.query_one("#log", RichLog)
        for level, message in state.logs:
            log.write(Text(message, style=LOG_STYLES.get(level, "")))
        self.refresh_status()
        table.focus()
        if not self.preview_enabled:
            self.query_one(FrameView).clear("preview off (p)")
        self.ready = True
        self.set_interval(1.0, self._tick)
        self._tick()

    def apply_events(self, batch: list[ev.Event]) -> None:
        """Called by the app with each drained batch (already folded into session.state)."""
        state = self.session.state
        table = self.query_one(CandidatesTable)
        stream = self.query_one(LLMStream)
        curves = self.query_one(CurvesPlot)
        log = self.query_one("#log", RichLog)
        touched: dict[str, None] = {}  # ordered: rows appear in event order
        tokens: list[str] = []
        curves_changed = False
        for event in batch:
            line = event_log_line(event)
            if line is not None:
                log.write(Text(line[1], style=LOG_STYLES.get(line[0], "")))
            if not isinstance(event, ev.LLMToken) and tokens:
                stream.feed("".join(tokens))
                tokens.clear()
            match event:
                case ev.LLMToken():
                    tokens.append(event.text)
                case ev.LLMStarted():
                    stream.begin(llm_phase(event.purpose, event.iteration, event.sample))
                    if event.sample >= 0 and event.purpose != "analysis":
                        touched[f"i{event.iteration}-k{event.sample}"] = None
                case ev.LLMFinished():
                    stream.end(f"{event.completion_tokens} tokens, {event.tokens_per_s:.1f} tok/s")
                case ev.EvaluationDone():
                    curves_changed = True
                    touched[event.training_id] = None
                case ev.CandidateAccepted() | ev.CandidateRejected():
                    touched[event.candidate_id] = None
                case ev.TrainingStarted() | ev.TrainingProgress() | ev.TrainingFinished() | ev.TrainingPaused() | \
                        ev.TrainingStopped() | ev.TrainingReused():
                    touched[event.training_id] = None
                    if isinstance(event, ev.TrainingFinished | ev.TrainingReused) and event.training_id in CONTROL_IDS:
                        table.set_baseline(event.score)
                case ev.RunFinished():
                    self._on_finished(event)
                    touched.update(dict.fromkeys(state.candidates))
                case _:
                    pass
        if tokens:
            stream.feed("".join(tokens))
        for candidate_id in touched:
            row = state.candidates.get(candidate_id)
            if row is not None:
                self._upsert(table, row)
        if curves_changed:
            curves.set_series({c.candidate_id: c.curve for c in state.candidates.values()})
        if batch:
            self.refresh_status()

    def _upsert(self, table: CandidatesTable, row: CandidateLive) -> None:
        table.upsert(row.candidate_id, iteration=row.iteration, status=row.status, step=row.step,
                     total=row.total, score=row.score)

    def _on_finished(self, event: ev.RunFinished) -> None:
        severity = "information" if event.status == "finished" else "warning"
        self.notify(f"run {event.status}" + (f": {event.reason}" if event.reason else ""), severity=severity,
                    markup=False)

    def refresh_status(self) -> None:
        state = self.session.state
        parts: list[Any] = [(state.run_id or "starting…", "bold"), f" · {state.env_id or '?'} · "]
        parts.append((state.status, "green" if state.status == "finished" else
                      "yellow" if state.status in ("running", "starting") else "red"))
        if (state.config or {}).get("executor") == "ray":  # local runs keep the line as it was
            parts.append(f" · on Ray ({(state.config or {}).get('ray_address') or 'local'})")
        if state.iteration is not None and state.iterations:
            parts.append(f" · iteration {state.iteration + 1}/{state.iterations}")
        if state.final_started and state.status == "running":
            parts.append(" · final evaluation")
        line2: list[Any] = []  # pieces joined with " · "
        head = (state.summary or {}).get("headline") if state.summary else None
        if isinstance(head, dict) and head.get("kind") == "final":
            # The paired final comparison replaces the (selection-biased) search figure.
            style = {"better": "bold green", "worse": "bold red"}.get(head.get("verdict") or "", "bold")
            line2.append(Text(headline_text(head), style=style))
        else:
            if state.best_candidate_id:
                line2.append(Text(f"search score: best {state.best_candidate_id} {fmt_score(state.best_score)}"
                                  " (one seed)"))
            if state.baseline is not None:
                line2.append(Text(f"control {fmt_score(state.baseline)}"))
        running = [c for c in state.candidates.values() if c.status == "running" and c.eta_s is not None]
        if running and state.status == "running":
            line2.append(Text(f"{running[-1].candidate_id} {running[-1].steps_per_s or 0:.0f} steps/s,"
                              f" eta {fmt_duration(running[-1].eta_s)}"))
        if state.status in ("error", "failed", "interrupted") and state.reason:
            line2.append(Text(state.reason, style="red"))
        text = Text.assemble(*parts)
        if line2:
            text.append("\n")
            text.append_text(Text(" · ").join(line2))
        self.query_one("#run-status", Static).update(text)

    # ------------------------------------------------------------------ live preview

    def _tick(self) -> None:
        state = self.session.state
        if state.status == "error":
            self.refresh_status()
        if not self.preview_enabled or self._previewing or not state.env_id:
            return
        key = (state.best_candidate_id, state.run_id)
        # A new best means a new clip; a best whose policy was not readable yet is retried, throttled.
        waiting_for_policy = state.best_candidate_id is not None and not self._showing_policy
        due = key != self._preview_key or (
            waiting_for_policy and time.monotonic() - self._preview_at > PREVIEW_EVERY_S)
        if due:
            self._preview_key = key
            self._preview_at = time.monotonic()
            self._previewing = True
            view = self.query_one(FrameView)
            size = view.content_size
            self.render_preview(state.env_id, state.run_id, state.best_candidate_id, state.config.get("env_spec"),
                                max(size.width, 16), max(size.height * 2, 16))

    @work(thread=True, exclusive=True, group="preview")
    def render_preview(self, env_id: str, run_id: str | None, best_id: str | None, env_spec: str | None,
                       width: int, height: int) -> None:
        policy_path, code, label = preview_target(self.session.home, run_id, best_id)
        try:
            frames = render_frames(env_id, policy_path, code, env_spec=env_spec, count=24, every=2,
                                   width=width * 2, height=height * 2, cancel=self.session.cancel_event
                                   if self.session.state.status in ("running", "starting") else None,
                                   unsafe_no_seccomp=bool((self.session.state.config or {}).get("unsafe_no_seccomp")))
        except Exception as exc:  # noqa: BLE001 - a preview that fails is a line on the screen, never the app's end
            message = str(exc) if isinstance(exc, LesrError) else f"preview failed: {type(exc).__name__}: {exc}"
            self.app.call_from_thread(self._preview_failed, message)
            return
        self.app.call_from_thread(self._preview_ready, frames, label)

    def _preview_ready(self, frames: list[Any], label: str) -> None:
        self._previewing = False
        self._showing_policy = label.startswith("best")
        if self.is_mounted and self.preview_enabled:
            self.query_one(FrameView).show_clip(frames)
            self.query_one("#preview-caption", Static).update(Text(label, style="dim"))

    def _preview_failed(self, message: str) -> None:
        self._previewing = False
        self._showing_policy = True  # do not retry this best; a new best gets a new attempt
        if self.is_mounted:
            self.query_one(FrameView).clear("no preview")
            self.query_one("#preview-caption", Static).update(Text(message, style="red"))

    # ------------------------------------------------------------------ actions

    def action_toggle_preview(self) -> None:
        self.preview_enabled = not self.preview_enabled
        view = self.query_one(FrameView)
        if self.preview_enabled:
            self._preview_key = None
            view.clear("rendering…")
            self._tick()
        else:
            view.clear("preview off (p)")
            self.query_one("#preview-caption", Static).update("")

    def action_tab(self, tab: str) -> None:
        switch_tab(self.query_one("#live-tabs", TabbedContent), tab, self.query_one(CandidatesTable))

    def action_cancel_run(self) -> None:
        if self.session.running:
            self.session.request_cancel()
            self.notify("cancelling… the run's state is saved; resume it from History")
        else:
            self.notify("the run is not running")

    def action_background(self) -> None:
        if self.session.running:
            self.notify("the run goes on in the background; open it again from the main menu")
        self.services.leave_live_screen(self)



def preview_target(home: Any, run_id: str | None, best_id: str | None) -> tuple[str | None, str | None, str]:
    """(policy file, candidate code, label) of the preview: the best candidate's search policy once it
    has one, else random actions."""
    if not (run_id and best_id):
        return None, None, "random actions"
    try:
        with Store(home) as store:
            view = next((v for v in store.candidate_views(run_id) if v.candidate_id == best_id), None)
    except LesrError:
        view = None
    if view is None or view.training is None or not view.training.policy_path:
        return None, None, "random actions"
    return view.training.policy_path, view.code, f"best: {best_id}"
