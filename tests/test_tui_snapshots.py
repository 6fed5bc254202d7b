"""Snapshot tests (pytest-textual-snapshot) of the screens whose content is stable.

Update after an intended change with: .venv/bin/pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from lesr_local.tui.app import LesrApp
from tests.helpers_tui import RUN_ID, make_finished_run


def test_main_menu_80x24(snap_compare, home: Path) -> None:
    assert snap_compare(LesrApp(home, preview=False), terminal_size=(80, 24))


def test_main_menu_large(snap_compare, home: Path) -> None:
    assert snap_compare(LesrApp(home, preview=False), terminal_size=(140, 45))


def test_empty_history(snap_compare, home: Path) -> None:
    assert snap_compare(LesrApp(home, preview=False), press=["h"], terminal_size=(80, 24))


def test_new_run_settings(snap_compare, home: Path) -> None:
    async def settle(pilot: Pilot) -> None:
        await pilot.press("n")
        await pilot.app.workers.wait_for_complete()
        await pilot.press("f3")
        await pilot.pause()

    assert snap_compare(LesrApp(home, preview=False), run_before=settle, terminal_size=(100, 30))


def test_new_run_environment(snap_compare, home: Path) -> None:
    async def settle(pilot: Pilot) -> None:
        await pilot.press("n")
        await pilot.app.workers.wait_for_complete()
        await pilot.press(*"hopper")
        await pilot.pause()

    assert snap_compare(LesrApp(home, preview=False), run_before=settle, terminal_size=(80, 24))


def test_candidate_detail_code(snap_compare, home: Path) -> None:
    make_finished_run(home)

    async def open_candidate(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, LesrApp)
        app.open_candidate(RUN_ID, "i0-k0")
        await pilot.pause()

    assert snap_compare(LesrApp(home, preview=False), run_before=open_candidate, terminal_size=(80, 24))
