"""The lesr-local Textual app (`lesr`, `lesr tui`) and the live view of `lesr run` at a terminal.

The engine runs in background threads (one per run, see RunSession); the app drains their event queues
on a 50 ms timer, so the UI thread never waits for training or the LLM and typing stays responsive.
History is read from the same store the headless commands use.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from lesr_local.config import RunConfig
from lesr_local.envs.catalogue import get_env_info
from lesr_local.errors import EXIT_OK, BadInput, LesrError
from lesr_local.llm.discovery import resolve_model
from lesr_local.llm.server import served_model
from lesr_local.procs import has_terminal
from lesr_local.store.db import Store
from lesr_local.trainings.executors import check_executor
from lesr_local.tui.screens.candidate_detail import CandidateDetailScreen
from lesr_local.tui.screens.history import HistoryScreen
from lesr_local.tui.screens.live_run import LiveRunScreen
from lesr_local.tui.screens.main_menu import MainMenuScreen
from lesr_local.tui.screens.models import ModelsScreen
from lesr_local.tui.screens.new_run import NewRunScreen
from lesr_local.tui.screens.run_detail import RunDetailScreen
from lesr_local.tui.session import RunSession

PUMP_INTERVAL_S = 0.05
STOP_WAIT_S = 120.0


class LesrApp(App[int]):
    """The app; it is also the AppServices (lesr_local.tui.services) it hands to every screen."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "lesr-local"
    SUB_TITLE = "LESR on your machine"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(
        self, home: Path, *, live_config: RunConfig | None = None, resume_run_id: str | None = None,
        preview: bool = True,
    ) -> None:
        super().__init__()
        self.home = Path(home)
        self.preview = preview
        self.sessions: list[RunSession] = []
        self.primary_session: RunSession | None = None
        self._live_request = (live_config, resume_run_id)
        self._store: Store | None = None
        self._announced: set[int] = set()
        self._stopping = False

    # ------------------------------------------------------------------ shared services

    @property
    def store(self) -> Store:
        """The workspace's run store (opened on first use, from the UI thread)."""
        if self._store is None:
            self._store = Store(self.home)
        return self._store

    def is_live(self, run_id: str) -> bool:
        return any(s.state.run_id == run_id and s.running for s in self.sessions)

    # ------------------------------------------------------------------ lifecycle

    def on_mount(self) -> None:
        self.push_screen(MainMenuScreen(self))
        config, resume_run_id = self._live_request
        if config is not None:
            self.primary_session = self.start_run(config)
        elif resume_run_id is not None:
            self.primary_session = self.resume_run(resume_run_id)
        self.set_interval(PUMP_INTERVAL_S, self._pump)

    def _pump(self) -> None:
        for index, session in enumerate(self.sessions):
            batch = session.drain()
            if batch:
                for screen in self.screen_stack:
                    # A screen still composing catches up from session.state in its on_mount.
                    if isinstance(screen, LiveRunScreen) and screen.session is session and screen.ready:
                        screen.apply_events(batch)
            if session.finished and index not in self._announced:
                self._announced.add(index)
                for screen in self.screen_stack:
                    if isinstance(screen, LiveRunScreen) and screen.session is session and screen.ready:
                        screen.refresh_status()
                visible = isinstance(self.screen, LiveRunScreen) and self.screen.session is session
                if not visible:
                    self.notify(f"{session.title}: {session.state.status}", title="Run ended", markup=False)

    # ------------------------------------------------------------------ runs

    def start_run(self, config: RunConfig, replace: Screen[Any] | None = None) -> RunSession:
        session = RunSession(self.home, config=config)
        self.sessions.append(session)
        session.start()
        if replace is not None and self.screen is replace:
            self.pop_screen()
        self.show_session(session)
        return session

    def resume_run(self, run_id: str, seeds: int | None = None) -> RunSession | None:
        for session in self.sessions:
            if session.state.run_id == run_id and session.running:
                self.show_session(session)
                return session
        try:
            run = self.store.get_run(run_id)
        except LesrError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return None
        if run.status == "finished" and seeds is None:
            self.notify(f"run {run_id} already finished; nothing to resume (s: more seeds)", severity="warning",
                        markup=False)
            return None
        session = RunSession(self.home, resume_run_id=run_id, seeds=seeds)
        session.state.env_id = run.env_id
        session.state.config = dict(run.config)
        self.sessions.append(session)
        session.start()
        self.show_session(session)
        return session

    def show_session(self, session: RunSession) -> None:
        if isinstance(self.screen, LiveRunScreen) and self.screen.session is session:
            return
        self.push_screen(LiveRunScreen(self, session, preview=self.preview))

    def leave_live_screen(self, screen: Screen[Any]) -> None:
        if self.screen is screen and len(self.screen_stack) > 2:
            self.pop_screen()

    # ------------------------------------------------------------------ navigation

    def open_new_run(self) -> None:
        self.push_screen(NewRunScreen(self))

    def open_history(self) -> None:
        self.push_screen(HistoryScreen(self))

    def open_models(self) -> None:
        self.push_screen(ModelsScreen())

    def open_run(self, run_id: str) -> None:
        self.push_screen(RunDetailScreen(self, run_id))

    def open_candidate(self, run_id: str, candidate_id: str) -> None:
        self.push_screen(CandidateDetailScreen(self, run_id, candidate_id))

    # ------------------------------------------------------------------ quitting

    async def action_quit(self) -> None:
        running = [s for s in self.sessions if s.running]
        if not running:
            self.exit(self._exit_code())
            return
        if self._stopping:
            self.notify("still saving the run's state… (ctrl+c again to force)", severity="warning")
            return
        self._stopping = True
        for session in running:
            session.request_cancel()
        self.notify("stopping the run(s); their state is saved and they can be resumed from History",
                    title="Quitting", timeout=30)
        threading.Thread(target=self._wait_then_exit, args=(running,), daemon=True).start()

    def _wait_then_exit(self, sessions: list[RunSession]) -> None:
        for session in sessions:
            session.wait(STOP_WAIT_S)
        self.call_from_thread(self._finish_quit)

    def _finish_quit(self) -> None:
        self._pump()
        self.exit(self._exit_code())

    def _exit_code(self) -> int:
        if self.primary_session is not None:
            self.primary_session.drain()
            return self.primary_session.exit_code
        return EXIT_OK


def require_terminal() -> None:
    """BadInput (one line, exit 2) when stdin/stderr is not a terminal: the app would have nothing to draw on."""
    if not has_terminal():
        raise BadInput("the lesr app needs an interactive terminal (no TTY here); "
                       "use `lesr run --headless` or the other sub-commands in scripts")


def check_startable(config: RunConfig | None, home: Path, resume_run_id: str | None) -> None:
    """Fail before the app opens (one line, exit 2) on what the engine would refuse at once:
    an unknown env or model, an unknown or finished run to resume."""
    if config is not None:
        get_env_info(config.env_id, config.env_spec)
        if config.llm.url is not None:
            served_model(config.llm.url)  # down, not llama.cpp, or not the user's own network: one line
        else:
            resolve_model(config.llm.model)
        check_executor(config)
        return
    if resume_run_id is None:
        raise BadInput("run_live needs a config or a run id to resume")
    store = Store(home)
    try:
        run = store.get_run(resume_run_id)
    finally:
        store.close()
    if run.status == "finished":
        raise BadInput(f"run {resume_run_id} already finished; nothing to resume")


def run_app(home: Path, preview: bool = True) -> int:
    """`lesr` / `lesr tui`: the app on its main menu."""
    require_terminal()
    result = LesrApp(home, preview=preview).run()
    return int(result or 0)


def run_live(config: RunConfig | None, home: Path, resume_run_id: str | None = None, preview: bool = True) -> int:
    """`lesr run` at a terminal: the app opens on the Live run screen of this run.

    Returns the run's exit code: 0 finished, 3 failed, 130 cancelled (state saved), or the code of the
    error that stopped the engine (its one-line message is printed on stderr after the app closes).
    """
    require_terminal()
    check_startable(config, home, resume_run_id)
    app = LesrApp(home, live_config=config, resume_run_id=resume_run_id, preview=preview)
    result = app.run()
    session = app.primary_session
    if session is None:
        return int(result or 1)
    if session.error:
        print(f"lesr: error: {session.error}", file=sys.stderr)
    return session.exit_code
