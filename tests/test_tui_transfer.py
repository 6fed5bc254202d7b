"""The run detail's Transfer tab starts a real transfer (sandboxed SB3 workers) and shows its figures."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Button, Input, Select, Static, TabbedContent

from lesr_local.store import Store
from lesr_local.tui.app import LesrApp
from lesr_local.tui.widgets.transfer_panel import TransferPanel
from tests.helpers_tui import RUN_ID, async_test, make_finished_run, plain


@async_test
async def test_transfer_tab_starts_a_ppo_transfer_with_progress_and_shows_it(home: Path) -> None:
    make_finished_run(home)
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(120, 36)) as pilot:
        app.open_run(RUN_ID)
        await pilot.pause()
        app.screen.query_one("#run-tabs", TabbedContent).active = "run-transfer"
        await pilot.pause()
        panel = app.screen.query_one(TransferPanel)
        assert "no transfer yet" in plain(panel.query_one("#transfer-results", Static))
        panel.query_one("#transfer-algo", Select).value = "ppo"
        panel.query_one("#transfer-seeds", Input).value = "1"
        panel.query_one("#transfer-steps", Input).value = "300"
        await pilot.click("#transfer-start")
        await pilot.pause()
        assert panel.query_one("#transfer-stop", Button).disabled is False
        for _ in range(600):  # two short trainings in sandboxed workers
            await asyncio.sleep(0.5)
            if panel.cancel is None:
                break
        await pilot.pause()
        status = plain(panel.query_one("#transfer-status", Static))
        assert "transfer ppo-1: finished" in status, status
        assert panel.steps_seen == {("candidate", 1): 300, ("raw", 1): 300}
        results = plain(panel.query_one("#transfer-results", Static))
        assert "ppo-1 · PPO · 300 steps × 1 seeds · finished" in results and "best (i0-k0)" in results
    with Store(home) as store:
        rows = store.list_trainings(RUN_ID, purpose="transfer")
    assert sorted((r.arm, r.status) for r in rows) == [("candidate", "finished"), ("raw", "finished")]
    assert {r.shaping for r in rows if r.arm == "candidate"} == {"additive"}  # the run's own shaping
