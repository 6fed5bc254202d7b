"""The first screen: New run, History, Models (and any runs this app is driving)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from lesr_local.tui.services import AppServices

BANNER = "L E S R · local"
TAGLINE = "A local LLM writes state features and intrinsic rewards; TD3 on MuJoCo judges them."


class MainMenuScreen(Screen[None]):
    BINDINGS = [
        Binding("n", "open('new')", "New run"),
        Binding("h", "open('history')", "History"),
        Binding("m", "open('models')", "Models"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, services: AppServices) -> None:
        super().__init__()
        self.services = services

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
        for index, session in enumerate(self.services.sessions):
            status = session.state.status
            options.append(Option(Text(f"Live run     {session.title} · {status}"), id=f"live-{index}"))
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
        services = self.services
        if target == "new":
            services.open_new_run()
        elif target == "history":
            services.open_history()
        elif target == "models":
            services.open_models()
        elif target.startswith("live-"):
            services.show_session(services.sessions[int(target.removeprefix("live-"))])
