"""The first screen: New run, History, Models (and any runs this app is driving)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from lesr_local.tui.app import LesrApp

BANNER = "L E S R · local"
TAGLINE = "A local LLM writes state features and intrinsic rewards; TD3 on MuJoCo judges them."


class MainMenuScreen(Screen[None]):
    BINDINGS = [
        Binding("n", "open('new')", "New run"),
        Binding("h", "open('history')", "History"),
        Binding("m", "open('models')", "Models"),
        Binding("q", "app.quit", "Quit"),
    ]

    @property
    def lesr_app(self) -> LesrApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="menu-box"):
            yield Static(BANNER, id="banner")
            yield Static(TAGLINE, id="tagline")
            yield OptionList(*self._options(), id="menu")
            yield Static("↑/↓ choose · enter open · n/h/m jump · q quit", id="menu-hint")
        yield Footer()

    def _options(self) -> list[Option]:
        options = [
            Option("New run      start a LESR search", id="new"),
            Option("History      past runs, candidates, resume", id="history"),
            Option("Models       local GGUF models", id="models"),
        ]
        for index, session in enumerate(self.lesr_app.sessions):
            status = session.state.status
            options.append(Option(f"Live run     {session.title} · {status}", id=f"live-{index}"))
        return options

    def on_screen_resume(self) -> None:
        menu = self.query_one("#menu", OptionList)
        highlighted = menu.highlighted
        menu.clear_options()
        menu.add_options(self._options())
        menu.highlighted = highlighted if highlighted is not None and highlighted < menu.option_count else 0
        menu.focus()

    def on_mount(self) -> None:
        self.query_one("#menu", OptionList).focus()

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        if message.option.id is not None:
            self.action_open(message.option.id)

    def action_open(self, target: str) -> None:
        app = self.lesr_app
        if target == "new":
            from lesr_local.tui.screens.new_run import NewRunScreen

            app.push_screen(NewRunScreen())
        elif target == "history":
            from lesr_local.tui.screens.history import HistoryScreen

            app.push_screen(HistoryScreen())
        elif target == "models":
            from lesr_local.tui.screens.models import ModelsScreen

            app.push_screen(ModelsScreen())
        elif target.startswith("live-"):
            app.show_session(app.sessions[int(target.removeprefix("live-"))])
