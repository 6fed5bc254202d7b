"""Text from a candidate, the LLM or the store is printed as itself, never read as Rich/Textual markup.

Before, a candidate raising ValueError("[/]") made the headless reporter raise MarkupError: `lesr run`
ended "failed", every resume failed again at the replayed event, and `lesr show` of the run crashed.
The same text in a TUI table cell crashed the screen, and "[@click=app.quit]" became a live action.
"""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from textual.widgets import DataTable, RichLog
from textual.widgets._toast import Toast

from lesr_local import events as ev
from lesr_local.config import preset
from lesr_local.search.reporter import HeadlessReporter
from lesr_local.store.db import Store
from lesr_local.tui.app import LesrApp
from lesr_local.tui.screens.candidate_detail import CandidateDetailScreen
from lesr_local.tui.screens.live_run import LiveRunScreen
from lesr_local.tui.screens.run_detail import RunDetailScreen
from lesr_local.tui.session import RunSession
from tests.conftest import run_lesr
from tests.helpers_tui import async_test, plain

HOSTILE = Path(__file__).resolve().parent / "data" / "candidates" / "hostile" / "54_markup_in_its_error.py"
REASON = "revise_state raised ValueError at step 3: [/] [bold]not bold[/bold] [@click=app.quit]quit[/]"
LLM_TEXT = "Analysis: [bold]keep[/bold] the angle [/] and [red]drop[/] the rest"
RUN_ID = "r-markup-0001"


def _hostile_run(home: Path) -> None:
    store = Store(home)
    store.create_run(RUN_ID, "InvertedPendulum-v5", "smoke", preset("smoke").to_dict())
    store.start_iteration(RUN_ID, 0)
    store.add_candidate(RUN_ID, "i0-k0", iteration=0, sample=0, code=HOSTILE.read_text(), status="rejected",
                        reason=REASON)
    store.record_llm_call(RUN_ID, "i0-k0-a0", purpose="candidate", iteration=0, sample=0, attempt=0,
                          prompt="[/]", reply=LLM_TEXT, prompt_tokens=10, completion_tokens=10, seconds=1.0,
                          finish_reason="stop")
    store.finish_iteration(RUN_ID, 0, LLM_TEXT, [])
    store.end_run(RUN_ID, "failed", f"i0-k0: {REASON}", {}, None, None, None)
    store.close()


def _events() -> list[ev.Event]:
    return [
        ev.RunStarted(RUN_ID, env_id="InvertedPendulum-v5", config={"preset": "[/]"}),
        ev.Log(RUN_ID, level="warning", message=f"no video: {REASON}"),
        ev.CandidateRejected(RUN_ID, candidate_id="i0-k0", iteration=0, sample=0, attempt=0, reason=REASON,
                             final=True),
        ev.TrainingStarted(RUN_ID, training_id="i0-k1", total_steps=1200, seed=0),
        ev.TrainingFinished(RUN_ID, training_id="i0-k1", status="failed", score=None, lipschitz=None,
                            reason=REASON),
        ev.RunFinished(RUN_ID, status="failed", summary={}, reason=REASON),
    ]


def test_headless_reporter_prints_hostile_text_literally() -> None:
    for terminal in (False, True):  # plain lines, and the live progress bars of a terminal
        out = io.StringIO()
        reporter = HeadlessReporter(Console(file=out, force_terminal=terminal, width=300, color_system=None))
        for event in _events():
            reporter(event)
        reporter.close()
        text = out.getvalue()
        assert text.count("[/] [bold]not bold[/bold] [@click=app.quit]quit[/]") == 4, text
        assert "preset [/]" in text


def test_show_and_history_print_hostile_text_literally(home: Path) -> None:
    _hostile_run(home)
    shown = run_lesr("show", RUN_ID, home=home)
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr and "MarkupError" not in shown.stderr
    assert "[/] [bold]not" in shown.stdout  # the candidate's reason, cut to the table's width
    assert f"failed (i0-k0: {REASON})" in shown.stdout.replace("\n", "")
    listed = run_lesr("history", home=home)
    assert listed.returncode == 0 and RUN_ID in listed.stdout, listed.stderr


@async_test
async def test_tui_screens_show_hostile_text_literally(home: Path) -> None:
    _hostile_run(home)
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(160, 40)) as pilot:
        app.open_run(RUN_ID)
        await pilot.pause()
        assert isinstance(app.screen, RunDetailScreen)
        table = app.screen.query_one("#run-candidates-table", DataTable)
        row = [str(cell) for cell in table.get_row_at(0)]
        assert row[-1].startswith("revise_state raised ValueError at step 3: [/] [bold]not")
        assert "[red]drop[/]" in plain(app.screen.query_one("#iterations-text"))
        assert REASON in plain(app.screen.query_one("#run-info"), width=300)
        app.open_candidate(RUN_ID, "i0-k0")
        await pilot.pause()
        assert isinstance(app.screen, CandidateDetailScreen)
        assert REASON in plain(app.screen.query_one("#cand-info"), width=300)
        await pilot.press("q")  # still the app's own binding: no injected action ran before


@async_test
async def test_live_screen_shows_hostile_events_literally(home: Path) -> None:
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await pilot.pause()
        session = RunSession(home, config=preset("smoke"))
        app.sessions.append(session)
        app.show_session(session)
        await pilot.pause()
        for event in _events():
            session.sink(event)
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, LiveRunScreen)
        await pilot.press("3")
        await pilot.pause(0.2)
        log = "\n".join(line.text for line in screen.query_one("#log", RichLog).lines)
        assert "[/] [bold]not bold[/bold]" in log
        await pilot.pause(0.3)
        toasts = list(app.screen.query(Toast))
        assert toasts and any(REASON in toast.render().plain for toast in toasts)  # rendered, not parsed
