"""Render docs/img/live-run.svg: the Live run screen of a real smoke run, saved mid-run.

The app runs headless (Textual's test driver) with the real engine, model, sandboxed trainings and
frame preview; once a first-iteration candidate is training and has a curve (while the LLM writes
the next one), the screen is saved as SVG and the run is cancelled. Use a throw-away home:

    LESR_HOME=$(mktemp -d) PYTHONPATH=. .venv/bin/python docs/img/live_run_screenshot.py [OUT.svg]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from lesr_local.config import preset
from lesr_local.tui.app import LesrApp

SIZE = (120, 34)
BUDGET_S = 900


def _worth_showing(app: LesrApp) -> bool:
    """A search candidate is training and has a curve of its own."""
    rows = app.sessions[0].state.candidates.values()
    return any(r.candidate_id.startswith("i0-") and r.status == "running" and len(r.curve) >= 2 for r in rows)


async def main(out: Path) -> None:
    app = LesrApp(Path(os.environ["LESR_HOME"]), preview=True)
    async with app.run_test(size=SIZE) as pilot:
        session = app.start_run(preset("smoke"))
        deadline = time.monotonic() + BUDGET_S
        while not _worth_showing(app):
            if not app.is_running or session.finished or time.monotonic() > deadline:
                print(f"no candidate training to show: {session.state.status} {session.error}", file=sys.stderr)
                return
            await pilot.pause(0.2)
        await pilot.pause(1.0)  # one more table refresh
        app.save_screenshot(filename=out.name, path=str(out.parent))
        await pilot.press("c")
        while not session.finished and app.is_running:
            await pilot.pause(0.2)
    print(out)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("live-run.svg")).resolve()
    asyncio.run(main(target))
