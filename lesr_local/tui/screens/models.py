"""The discovered GGUF models with their metadata; which one a run uses by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from lesr_local.errors import LesrError
from lesr_local.llm.discovery import discover_models
from lesr_local.tui.format import fmt_bytes, fmt_count, plain
from lesr_local.workspace import PROJECT_ROOT

MODEL_COLUMNS = ("Name", "Size", "Quant", "Params", "Context", "Chat", "Default", "Source")


def short_path(path: Path | str) -> str:
    """A path as the user would type it: relative to the project, or with ~ for the home folder."""
    resolved = Path(path)
    try:
        return str(resolved.relative_to(PROJECT_ROOT))
    except ValueError:
        pass
    try:
        return "~/" + str(resolved.relative_to(Path.home()))
    except ValueError:
        return str(resolved)


def model_row(model: Any) -> tuple[Any, ...]:
    return (
        plain(model.name), fmt_bytes(model.size_bytes), plain(model.quantization or "—"), fmt_count(model.parameters),
        fmt_count(model.context_length), "yes" if model.chat_template else "no",
        Text("★ default", style="bold green") if model.default else "", plain(model.source),
    )


class ModelsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "refresh", "Rescan"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.models: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Models", classes="screen-title")
        yield DataTable(id="models-table", cursor_type="row", zebra_stripes=True)
        yield Static("Looking for GGUF models…", id="model-detail", classes="detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#models-table", DataTable)
        for label in MODEL_COLUMNS:
            table.add_column(label, key=label.lower())
        table.focus()
        self.discover()

    def action_refresh(self) -> None:
        self.query_one("#model-detail", Static).update("Looking for GGUF models…")
        self.discover()

    @work(thread=True, exclusive=True, group="discovery")
    def discover(self) -> None:
        try:
            models = discover_models()
        except LesrError as exc:
            self.app.call_from_thread(self._show_error, str(exc))
            return
        self.app.call_from_thread(self._show, models)

    def _show_error(self, message: str) -> None:
        self.query_one("#model-detail", Static).update(Text(f"Model discovery failed: {message}", style="red"))

    def _show(self, models: list[Any]) -> None:
        self.models = models
        table = self.query_one("#models-table", DataTable)
        table.clear()
        for index, model in enumerate(models):
            table.add_row(*model_row(model), key=str(index))
        if not models:
            self.query_one("#model-detail", Static).update(
                "No GGUF model found. Drop a .gguf file into models/ or run `lesr models add FILE`.")
        else:
            self._describe(0)

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        if message.row_key.value is not None and self.models:
            self._describe(int(message.row_key.value))

    def _describe(self, index: int) -> None:
        if not 0 <= index < len(self.models):
            return
        model = self.models[index]
        lines = [
            f"{model.name}  ({model.architecture or 'unknown architecture'})",
            f"path: {short_path(model.path)}",
            "prompting: " + ("its chat template" if model.chat_template else
                             "completion format (base model; constrained decoding helps)"),
        ]
        default = next((m for m in self.models if m.default), None)
        if default is not None:
            lines.append(f"default for new runs: {default.name}")
        self.query_one("#model-detail", Static).update(plain("\n".join(lines)))
