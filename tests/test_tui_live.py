"""The Live run screen, driven by the engine's typed events through a RunSession's sink."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from textual.widgets import Input, RichLog, Static

from lesr_local import events as ev
from lesr_local.config import preset
from lesr_local.tui.app import LesrApp
from lesr_local.tui.screens.live_run import LiveRunScreen
from lesr_local.tui.screens.main_menu import MainMenuScreen
from lesr_local.tui.session import RunSession
from lesr_local.tui.widgets.candidates_table import CandidatesTable
from lesr_local.tui.widgets.charts import CurvesPlot
from lesr_local.tui.widgets.llm_stream import LLMStream
from tests.helpers_tui import async_test, live_events, plain

CANCEL_BUDGET_S = 180  # a hang guard: starting the engine and unwinding take seconds


def _session(app: LesrApp, home: Path) -> RunSession:
    """A session whose events come from the test instead of an engine thread."""
    session = RunSession(home, config=preset("smoke"))
    app.sessions.append(session)
    app.show_session(session)
    return session


@async_test
async def test_events_fill_table_stream_curves_and_log(home: Path) -> None:
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        session = _session(app, home)
        await pilot.pause()
        for event in live_events():
            session.sink(event)
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, LiveRunScreen)
        table = screen.query_one(CandidatesTable)
        assert table.candidate_ids == ["control", "i0-k0"]
        assert table.value("i0-k0", "status") == "running"
        assert table.value("i0-k0", "step") == 600
        assert table.value("control", "score") == 20.0
        assert str(table.get_cell("i0-k0", "progress")).strip().endswith("50%")
        stream = screen.query_one(LLMStream)
        assert "def revise_state(s):" in "\n".join(stream.lines)
        assert "    return s" in stream.lines
        curves = screen.query_one(CurvesPlot)
        assert curves.series == {"control": [(600, 10.0)], "i0-k0": [(600, 12.0)]}
        await pilot.press("3")  # the Log tab (a RichLog lays out its lines once it is shown)
        await pilot.pause(0.2)
        log = screen.query_one("#log", RichLog)
        log_text = "\n".join(line.text for line in log.lines)
        assert "i0-k0 accepted" in log_text and "control finished, score 20.000" in log_text
        status = plain(screen.query_one("#run-status", Static))
        assert "r-live-0001" in status and "iteration 1/1" in status and "control 20.0" in status

        # A later event touches only its row's cells.
        session.sink(ev.TrainingFinished("r-live-0001", training_id="i0-k0", status="finished", score=25.0,
                                         lipschitz=[1.0, 2.0]))
        session.sink(ev.IterationFinished("r-live-0001", iteration=0, best_candidate_id="i0-k0", best_score=25.0))
        await pilot.pause(0.2)
        assert table.value("i0-k0", "score") == 25.0
        assert str(table.get_cell("i0-k0", "delta")) == "+25.0%"
        status = plain(screen.query_one("#run-status", Static))
        # One seed, best of the search: labelled as a search score, never as an improvement.
        assert "search score: best i0-k0 25.0 (one seed)" in status and "%" not in status

        # Once the final evaluation exists, its paired comparison is the headline.
        head = {"kind": "final", "best": 26.0, "baseline": 20.0, "improvement": 6.0, "improvement_relative": None,
                "verdict": "better", "seeds": 5}
        session.sink(ev.RunFinished("r-live-0001", status="finished", summary={"headline": head}))
        await pilot.pause(0.2)
        status = plain(screen.query_one("#run-status", Static))
        assert "final 26.0 vs baseline 20.0: +6, better, 5 seeds" in status and "search score" not in status


@async_test
async def test_a_candidate_paused_then_stopped_by_halving(home: Path) -> None:
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        session = _session(app, home)
        await pilot.pause()
        for event in live_events():
            session.sink(event)
        session.sink(ev.TrainingPaused("r-live-0001", training_id="i0-k0", step=600, total_steps=1200))
        await pilot.pause(0.2)
        table = app.screen.query_one(CandidatesTable)
        assert table.value("i0-k0", "status") == "paused"
        session.sink(ev.TrainingStopped("r-live-0001", training_id="i0-k0", step=600, total_steps=1200, score=9.0,
                                         reason="stopped early at step 600 of 1200 by successive halving"))
        await pilot.pause(0.2)
        assert table.value("i0-k0", "status") == "stopped" and table.value("i0-k0", "score") == 9.0
        # scored at step 600: no Δ against the baseline's score at 1200
        assert str(table.get_cell("i0-k0", "delta")) == "—"
        await pilot.press("3")
        await pilot.pause(0.2)
        log = app.screen.query_one("#log", RichLog)
        assert "i0-k0 stopped at step 600 by successive halving" in "\n".join(line.text for line in log.lines)


@async_test
async def test_tokens_arrive_in_batches_and_typing_stays_responsive(home: Path) -> None:
    """A producer thread streams 2000 tokens while the user types into the New run form."""
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        session = _session(app, home)
        await pilot.pause()
        session.sink(ev.LLMStarted("r-1", purpose="candidate", iteration=0, sample=0, prompt_tokens=10))
        writes: list[int] = []
        stream = app.screen.query_one(LLMStream)
        original = stream.feed
        stream.feed = lambda text: (writes.append(len(text)), original(text))  # type: ignore[method-assign]

        def produce() -> None:
            for i in range(2000):
                session.sink(ev.LLMToken("r-1", purpose="candidate", iteration=0, sample=0, text=f"t{i} "))
                if i % 50 == 0:
                    time.sleep(0.005)

        producer = threading.Thread(target=produce)
        producer.start()
        await pilot.pause(0.3)  # some batches reach the live screen
        await pilot.press("b")  # leave the run in the background; it keeps streaming
        assert isinstance(app.screen, MainMenuScreen)
        await pilot.press("n")
        await pilot.pause()
        field = app.screen.query_one("#env-search", Input)
        await pilot.press(*"walker")
        assert field.value == "walker"  # typed while the tokens streamed
        producer.join()
        await pilot.pause(0.3)
        assert session.state.llm_text.count("t1999 ") == 1
        await pilot.press("escape")
        menu_text = "\n".join(str(o.prompt) for o in app.screen.query_one("#menu").options)
        assert "Live run" in menu_text
        await pilot.press("down", "down", "down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, LiveRunScreen)
        reopened = app.screen.query_one(LLMStream)
        assert "t1999" in "".join(reopened.lines)  # caught up from the session's state
        assert writes and len(writes) < 2000  # the first screen got the tokens in batches


@async_test
async def test_cancel_key_stops_the_real_engine(home: Path) -> None:
    """c on the Live run screen of a real run: the real engine unwinds, the store keeps the run as
    interrupted (resumable) and the screen says so. Nothing here stands in for the engine's answer."""
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(80, 24)) as pilot:
        session = app.start_run(preset("smoke"))
        deadline = time.monotonic() + CANCEL_BUDGET_S
        while session.state.run_id is None and not session.finished and time.monotonic() < deadline:
            await pilot.pause(0.1)
        run_id = session.state.run_id
        assert run_id is not None and session.running, (session.error, session.state.logs[-3:])
        assert isinstance(app.screen, LiveRunScreen)
        await pilot.press("c")
        assert session.cancel_event.is_set()
        while not session.finished and time.monotonic() < deadline:
            await pilot.pause(0.2)
        assert session.finished, f"the engine did not stop within {CANCEL_BUDGET_S}s of the cancel"
        await pilot.pause(0.2)
        assert session.state.status == "interrupted", (session.state.status, session.error)
        assert session.error is not None and "interrupted" in session.error
        assert session.exit_code == 130
        assert app.store.get_run(run_id).status == "interrupted"
        assert "interrupted" in plain(app.screen.query_one("#run-status", Static))


@async_test
async def test_preview_shows_random_frames_before_any_policy(home: Path) -> None:
    from lesr_local.render.frames import is_blank
    from lesr_local.tui.widgets.frame_view import FrameView

    app = LesrApp(home, preview=True)
    async with app.run_test(size=(100, 30)) as pilot:
        session = _session(app, home)
        await pilot.pause()
        session.sink(ev.RunStarted("r-preview", env_id="InvertedPendulum-v5", config={}))
        view = app.screen.query_one(FrameView)
        deadline = time.monotonic() + 90
        while view.frame_count == 0 and time.monotonic() < deadline:
            await pilot.pause(0.25)
        assert view.frame_count > 1  # a short clip, played in a loop
        assert view.current is not None and not is_blank(view.current)
        caption = plain(app.screen.query_one("#preview-caption", Static))
        assert "random actions" in caption
        await pilot.press("p")
        assert view.frame_count == 0  # preview off


def test_the_preview_shows_the_best_candidates_search_policy(home: Path) -> None:
    """The live preview's target is the best candidate's own search policy (a TrainingRecord's), else
    random actions: before trainings were records it read a field that no longer exists and ended the app."""
    from lesr_local.store import Store
    from lesr_local.tui.screens.live_run import preview_target
    from tests.helpers_tui import CODE, RUN_ID, make_finished_run

    make_finished_run(home)
    assert preview_target(home, RUN_ID, "i0-k0") == (None, None, "random actions")  # no policy file yet
    policy = home / "runs" / RUN_ID / "policies" / "i0-k0.safetensors"
    with Store(home) as store:
        trained = store.get_training(RUN_ID, "i0-k0")
        store.finish_training(RUN_ID, "i0-k0", score=trained.score, curve=trained.curve, lipschitz=None,
                              dim_names=None, steps=1200, seconds=1.0, steps_per_s=1.0, policy_path=str(policy))
    assert preview_target(home, RUN_ID, "i0-k0") == (str(policy), CODE, "best: i0-k0")
    assert preview_target(home, RUN_ID, None) == (None, None, "random actions")
