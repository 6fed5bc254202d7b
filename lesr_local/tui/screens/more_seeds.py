"""A small dialog: how many paired seeds a finished run's final evaluation should have in all."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class MoreSeedsScreen(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, run_id: str, have: int, proposal: int, estimate: int | None) -> None:
        super().__init__()
        self.run_id, self.have, self.proposal, self.estimate = run_id, have, proposal, estimate

    def compose(self) -> ComposeResult:
        hint = "" if self.estimate is None else (
            f" At the observed spread about {self.estimate} paired seeds would set the difference apart from 0 "
            "(an estimate from the data at hand, not a promise).")
        with Vertical(id="more-seeds"):
            yield Static(f"Run {self.run_id} has {self.have} paired final seed(s). Final seeds in all: only the "
                         f"missing ones train, and the verdict is recomputed.{hint}", id="more-seeds-text")
            yield Input(str(self.proposal), id="more-seeds-input", type="integer")
            yield Button("Add seeds", id="more-seeds-go", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self._submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def _submit(self) -> None:
        text = self.query_one("#more-seeds-input", Input).value.strip()
        if not text.isdigit() or int(text) <= self.have:
            self.notify(f"give a number above {self.have}", severity="warning")
            return
        self.dismiss(int(text))

    def action_cancel(self) -> None:
        self.dismiss(None)
