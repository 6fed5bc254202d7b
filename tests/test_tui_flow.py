"""The main flow with the real engine and the real default model: start a smoke run from the New run
form, watch it finish on the Live run screen, open it in History, open a candidate."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import Checkbox, DataTable, Input, Select, Static

from lesr_local.tui.app import LesrApp
from lesr_local.tui.screens.candidate_detail import CandidateDetailScreen
from lesr_local.tui.screens.history import HistoryScreen
from lesr_local.tui.screens.live_run import LiveRunScreen
from lesr_local.tui.screens.main_menu import MainMenuScreen
from lesr_local.tui.screens.new_run import NewRunScreen
from lesr_local.tui.screens.run_detail import RunDetailScreen
from lesr_local.tui.widgets.candidates_table import CandidatesTable
from lesr_local.tui.widgets.llm_stream import LLMStream
from tests.helpers_tui import async_test, plain

RUN_BUDGET_S = 540


@pytest.mark.slow
@pytest.mark.timeout(900)
@async_test
async def test_smoke_run_from_the_form_to_a_candidate(home: Path) -> None:
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await app.workers.wait_for_complete()
        form = app.screen
        assert isinstance(form, NewRunScreen)
        await pilot.press(*"InvertedPendulum")
        await pilot.press("enter", "enter")  # pick the match, then select it
        assert form.env_id == "InvertedPendulum-v5"
        await pilot.press("f3")
        form.query_one("#opt-preset", Select).value = "smoke"
        await pilot.pause()
        form.query_one("#opt-video", Checkbox).value = False
        # one iteration and one final seed are the whole flow (the suite's time)
        form.query_one("#opt-iterations", Input).value = "1"
        form.query_one("#opt-seeds", Input).value = "1"
        await pilot.pause()
        config = form.build_config()
        assert (config.env_id, config.preset, config.render_video, config.iterations, config.seeds) == (
            "InvertedPendulum-v5", "smoke", False, 1, 1)
        await pilot.press("ctrl+s")
        await pilot.pause()
        live = app.screen
        assert isinstance(live, LiveRunScreen)
        session = live.session

        deadline = time.monotonic() + RUN_BUDGET_S
        saw_tokens = False
        while not session.finished and time.monotonic() < deadline:
            await pilot.pause(1.0)
            saw_tokens = saw_tokens or len(live.query_one(LLMStream).lines) > 3
        assert session.finished, f"the smoke run did not finish in {RUN_BUDGET_S}s: {session.state.logs[-5:]}"
        await pilot.pause(0.5)
        assert session.state.status == "finished", (session.state.reason, session.error)
        assert session.exit_code == 0
        assert saw_tokens  # the LLM's text streamed onto the screen while it was generated
        table = live.query_one(CandidatesTable)
        assert "control" in table.candidate_ids
        assert any(cid.startswith("i0-k") for cid in table.candidate_ids)
        status = plain(live.query_one("#run-status", Static))
        assert "finished" in status
        run_id = session.state.run_id
        assert run_id is not None

        await pilot.press("b")
        assert isinstance(app.screen, MainMenuScreen)
        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen)
        runs = app.screen.query_one("#runs-table", DataTable)
        assert runs.row_count == 1 and str(runs.get_row_at(0)[0]) == run_id
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        info = plain(detail.query_one("#run-info", Static))
        assert "finished" in info and "verdict:" in info and "final " in info
        candidates = detail.query_one("#run-candidates-table", DataTable)
        ids = [str(candidates.get_row_at(i)[0]) for i in range(candidates.row_count)]
        best_id = app.store.get_run(run_id).best_candidate_id
        assert best_id is not None and best_id.startswith("i") and best_id in ids
        best = next(v for v in app.store.candidate_views(run_id) if v.candidate_id == best_id)
        assert best.status == "finished" and best.code  # a trained candidate always has its code
        candidates.move_cursor(row=ids.index(best_id))
        await pilot.press("enter")
        await pilot.pause()
        cand = app.screen
        assert isinstance(cand, CandidateDetailScreen)
        assert "verdict:" in plain(cand.query_one("#cand-info", Static))
        assert cand.candidate_id == best_id
        shown = cand.query_one("#code", Static).content
        assert shown.code == best.code and "def revise_state" in shown.code
        await pilot.press("q")
