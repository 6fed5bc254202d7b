"""Pilot tests for every screen of the app (real store, real env catalogue, real model discovery)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input, OptionList, Static, TabbedContent

from lesr_local.config import preset
from lesr_local.tui.app import LesrApp
from lesr_local.tui.screens.candidate_detail import CandidateDetailScreen
from lesr_local.tui.screens.history import HistoryScreen
from lesr_local.tui.screens.main_menu import MainMenuScreen
from lesr_local.tui.screens.models import ModelsScreen
from lesr_local.tui.screens.new_run import NewRunScreen
from lesr_local.tui.screens.run_detail import RunDetailScreen
from lesr_local.tui.widgets.charts import LipschitzChart
from tests.helpers_runs import record_training
from tests.helpers_tui import CODE, RUN_ID, async_test, make_finished_run, plain


def _text(app: LesrApp, selector: str) -> str:
    return plain(app.screen.query_one(selector, Static))


@async_test
async def test_main_menu_offers_the_three_entries(home: Path) -> None:
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MainMenuScreen)
        menu = app.screen.query_one("#menu", OptionList)
        labels = [str(menu.get_option_at_index(i).prompt) for i in range(menu.option_count)]
        assert [label.split()[0] for label in labels] == ["New", "History", "Models"]
        await pilot.press("down", "enter")
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("escape", "m")
        assert isinstance(app.screen, ModelsScreen)
        await pilot.press("escape", "n")
        assert isinstance(app.screen, NewRunScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, MainMenuScreen)
        await pilot.press("q")
    assert app.return_value == 0


@async_test
async def test_models_screen_lists_discovered_models(home: Path) -> None:
    from lesr_local.llm.discovery import discover_models

    expected = discover_models()
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("m")
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#models-table", DataTable)
        assert table.row_count == len(expected) >= 1
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert names == [m.name for m in expected]
        default_rows = [i for i in range(table.row_count) if "default" in str(table.get_row_at(i)[6])]
        assert default_rows == [i for i, m in enumerate(expected) if m.default]
        detail = _text(app, "#model-detail")
        assert expected[0].name in detail and "default for new runs" in detail


@async_test
async def test_new_run_env_search_and_dims(home: Path) -> None:
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, NewRunScreen)
        await pilot.press(*"pendulum")
        await pilot.pause()
        env_list = screen.query_one("#env-list", OptionList)
        ids = [env_list.get_option_at_index(i).id for i in range(env_list.option_count)]
        assert "InvertedPendulum-v5" in ids and "HalfCheetah-v5" not in ids
        await pilot.press("enter")  # pick the highlighted match, focus moves to the list
        await pilot.press("enter")  # select it: the form moves on to the model tab
        await pilot.pause()
        assert screen.env_id == "InvertedPendulum-v5"
        assert screen.query_one(TabbedContent).active == "tab-model"
        task = _text(app, "#env-task")
        assert "InvertedPendulum-v5" in task and "4 state dims" in task
        dims_text = _text(app, "#env-dims")
        assert "meaning" in dims_text and "angle" in dims_text


@async_test
async def test_new_run_validates_inputs_in_place(home: Path) -> None:
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        await app.workers.wait_for_complete()
        await pilot.press("f3")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, NewRunScreen)
        samples = screen.query_one("#opt-samples", Input)
        assert samples.value == str(preset("quick").samples)
        samples.focus()
        samples.value = ""
        await pilot.press("0")
        await pilot.pause()
        assert samples.has_class("-invalid")
        assert "greater than or equal to 1" in _text(app, "#opt-samples-error").lower() or \
            _text(app, "#opt-samples-error") != ""
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, NewRunScreen)  # not started
        assert "fix" in _text(app, "#run-summary")
        await pilot.press("backspace", "4")
        await pilot.pause()
        assert not samples.has_class("-invalid")
        assert _text(app, "#opt-samples-error") == ""
        config = screen.build_config()
        assert config.samples == 4 and config.preset == "quick"
        assert config.llm.model is not None


@async_test
async def test_new_run_preset_fills_the_form(home: Path) -> None:
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        await app.workers.wait_for_complete()
        screen = app.screen
        assert isinstance(screen, NewRunScreen)
        from textual.widgets import Select

        screen.query_one("#opt-preset", Select).value = "smoke"
        await pilot.pause()
        assert screen.query_one("#opt-steps", Input).value == str(preset("smoke").steps)
        temperature = screen.query_one("#opt-llm-temperature", Input)
        temperature.value = "9"
        await pilot.pause()
        assert temperature.has_class("-invalid")
        temperature.value = "0.5"
        await pilot.pause()
        config = screen.build_config()
        assert (config.preset, config.steps, config.llm.temperature) == ("smoke", preset("smoke").steps, 0.5)


@async_test
async def test_history_run_detail_and_candidate_detail(home: Path) -> None:
    make_finished_run(home)
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("h")
        await pilot.pause()
        table = app.screen.query_one("#runs-table", DataTable)
        assert table.row_count == 1
        assert str(table.get_row_at(0)[0]) == RUN_ID
        row = [str(cell) for cell in table.get_row_at(0)]
        # the paired final comparison, not the search's best single-seed score (25.0)
        assert row[3] == "final ×2" and row[4] == "26.0" and row[5] == "20.0" and row[6] == "+6 better"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RunDetailScreen)
        info = _text(app, "#run-info")
        assert "final 26.0 vs baseline 20.0: +6 (+30.0%), better, 2 seeds" in info and "26.0 ± 1.0 " in info
        # a summary stored before the t interval: the bootstrap one, no invented t, the label
        assert "difference +6 (+30.0%); 95% CI bootstrap [+5, +7]: better" in info and "verdict: better" in info
        assert "search: best i0-k0 25.0 · control 20.0 (one seed each)" in info
        candidates = app.screen.query_one("#run-candidates-table", DataTable)
        ids = [str(candidates.get_row_at(i)[0]) for i in range(candidates.row_count)]
        assert ids == ["control", "i0-k0", "i0-k1"]
        await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CandidateDetailScreen)
        assert app.screen.candidate_id == "i0-k0"
        info = _text(app, "#cand-info")
        assert "verdict: trained" in info and "+25.0%" in info
        code = app.screen.query_one("#code", Static).content
        assert code.lexer.name == "Python"
        assert code.code == CODE
        assert "revise_state" in _text(app, "#code")
        chart = app.screen.query_one(LipschitzChart)
        assert chart.values == [0.5, 1.5, 0.25, 0.75, 2.0, 1.0]
        assert chart.names[4] == "tip speed"
        await pilot.press("3")
        await pilot.pause()
        assert app.screen.query_one("#cand-tabs", TabbedContent).active == "cand-analysis"
        analysis = _text(app, "#analysis")
        assert "pole's energy" in analysis and "Here is the module" in analysis
        await pilot.press("2")
        await pilot.pause()
        assert app.screen.query_one("#cand-tabs", TabbedContent).active == "cand-lipschitz"
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, HistoryScreen)


@async_test
async def test_rejected_candidate_shows_its_reason(home: Path) -> None:
    make_finished_run(home)
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_candidate(RUN_ID, "i0-k1")
        await pilot.pause()
        info = _text(app, "#cand-info")
        assert "rejected by the checks" in info and "intrinsic_reward is missing" in info
        chart = app.screen.query_one(LipschitzChart)
        assert chart.values == []


@async_test
async def test_resume_refuses_a_finished_run(home: Path) -> None:
    make_finished_run(home)
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h")
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        assert app.sessions == []
        assert any("already finished" in n.message for n in app._notifications)


@async_test
async def test_history_with_no_runs_says_how_to_start(home: Path) -> None:
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h")
        await pilot.pause()
        assert app.screen.query_one("#runs-table", DataTable).row_count == 0
        assert "No runs yet" in _text(app, "#history-hint")


@async_test
async def test_run_detail_shows_shaping_and_the_ablations_tab(home: Path) -> None:
    from lesr_local.store import Store

    make_finished_run(home)
    with Store(home) as store:
        for variant, scores in (("full", (30.0, 34.0)), ("raw", (20.0, 21.0))):
            for seed, score in zip((1, 2), scores, strict=True):
                record_training(store, RUN_ID, f"ablate-i0-k0-n500-{variant}-s{seed}", purpose="ablation",
                                arm=variant, candidate_id="i0-k0" if variant == "full" else None, seed=seed,
                                steps=500, score=score, curve=[(500, score)], group_id="i0-k0-n500")
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_run(RUN_ID)
        await pilot.pause()
        assert "shaping additive" in _text(app, "#run-info")  # a run saved without the key was additive
        app.screen.query_one("#run-tabs", TabbedContent).active = "run-ablations"
        await pilot.pause()
        text = _text(app, "#ablations-text")
        assert "Ablation of i0-k0 · 500 steps · seeds [1, 2]" in text
        assert "full" in text and "32.0 ± 2.8" in text and "raw" in text and "20.5 ± 0.7" in text  # std ddof=1
        assert "Δ raw +11.50" in text  # paired: (30-20 + 34-21) / 2
