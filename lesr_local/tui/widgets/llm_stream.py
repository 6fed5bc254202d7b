"""The LLM's text as it is generated: a header per call, then the tokens appended in batches."""

from __future__ import annotations

from textual.widgets import Log


class LLMStream(Log):
    """A `Log` that appends text without forcing new lines (tokens arrive mid-line)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, highlight=False, max_lines=4000, auto_scroll=True)
        self.calls = 0

    def begin(self, header: str) -> None:
        prefix = "\n" if self.line_count and self.lines[-1] != "" else ""
        self.write(f"{prefix}── {header} ──\n")
        self.calls += 1

    def feed(self, text: str) -> None:
        if text:
            self.write(text)

    def end(self, footer: str) -> None:
        self.write(f"\n   [{footer}]\n")
