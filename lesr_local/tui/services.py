"""What a screen may ask of the app: the run store, the runs this app drives, and where to go next.

LesrApp implements AppServices and hands itself to each screen it opens, so a screen depends on
this small interface only (type-checked where the app builds the screen), never on the app class
or on its sibling screens: navigation goes through the open_* methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from textual.screen import Screen

from lesr_local.config import RunConfig
from lesr_local.store.db import Store
from lesr_local.tui.session import RunSession


class AppServices(Protocol):
    @property
    def store(self) -> Store:
        """The workspace's run store (the UI thread's connection)."""
        ...

    @property
    def sessions(self) -> Sequence[RunSession]:
        """The runs this app started or resumed, oldest first."""
        ...

    def is_live(self, run_id: str) -> bool:
        """Whether this app is driving `run_id` right now."""
        ...

    def start_run(self, config: RunConfig, replace: Screen[Any] | None = None) -> RunSession:
        """Start a run and show its Live run screen (in place of `replace`, when given)."""
        ...

    def resume_run(self, run_id: str, seeds: int | None = None) -> RunSession | None:
        """Resume a stopped run (or show it, when it is live); with `seeds`, give a finished run's final
        evaluation that many paired seeds. None with a notice when it cannot be."""
        ...

    def show_session(self, session: RunSession) -> None:
        """Show the Live run screen of a run this app drives."""
        ...

    def leave_live_screen(self, screen: Screen[Any]) -> None:
        """Send a Live run screen to the background (the run goes on)."""
        ...

    def open_new_run(self) -> None: ...

    def open_history(self) -> None: ...

    def open_models(self) -> None: ...

    def open_run(self, run_id: str) -> None: ...

    def open_candidate(self, run_id: str, candidate_id: str) -> None: ...
