"""The run detail and the Transfer tab show the intervals a verdict rests on (bootstrap AND t) next to
it, and colour the difference by the verdict label, never by the sign of the mean (Pilot, real store)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import Static, TabbedContent

from lesr_local.experiments.statistics import SeedResult, compare
from lesr_local.store import Store
from lesr_local.tui.app import LesrApp
from lesr_local.tui.widgets.transfer_panel import TransferPanel
from tests.helpers_runs import record_training
from tests.helpers_tui import RUN_ID, async_test, make_finished_run

# Two seeds, differences +11 and +0.667: the bootstrap interval (their range) excludes 0, the t
# interval does not, so the verdict is "no detectable difference" although the mean is +5.8.
TWO_SEEDS = ({1: 12.0, 2: 9.0}, {1: 1.0, 2: 8.333})
# Three seeds, differences +2, +2.5, +1.5: both intervals exclude 0.
CLEAR = ({1: 12.0, 2: 13.0, 3: 11.0}, {1: 10.0, 2: 10.5, 3: 9.5})


def _comparison(scores: tuple[dict[int, float], dict[int, float]]):
    best, base = ({s: SeedResult(s, v, None) for s, v in arm.items()} for arm in scores)
    return compare(best, base)


def _styles(text: Text, fragment: str) -> set[str]:
    """The styles of the spans under the start of `fragment` in a rendered Text."""
    at = text.plain.index(fragment)
    return {str(span.style) for span in text.spans if span.start <= at < span.end}


def _with_final(home: Path, scores: tuple[dict[int, float], dict[int, float]]) -> None:
    make_finished_run(home)
    comparison = _comparison(scores)
    with Store(home) as store:
        run = store.get_run(RUN_ID)
        summary = {**run.summary, "final": {**comparison.final_dict(), "steps": 1200},
                   "verdict": comparison.sentence}
        store.set_run_summary(RUN_ID, summary)


async def _run_info(home: Path) -> Text:
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(140, 40)) as pilot:
        app.open_run(RUN_ID)
        await pilot.pause()
        content = app.screen.query_one("#run-info", Static).content
    assert isinstance(content, Text)
    return content


@async_test
async def test_run_detail_shows_both_intervals_next_to_a_no_difference_verdict(home: Path) -> None:
    _with_final(home, TWO_SEEDS)
    info = await _run_info(home)
    lines = info.plain.splitlines()
    line = next(i for i, text in enumerate(lines) if text.strip().startswith("difference"))
    assert lines[line].strip() == ("difference +5.833; 95% CI bootstrap [+0.667, +11], t [-59.81, +71.48]: "
                                   "no detectable difference")
    assert lines[line + 1].strip().startswith("verdict: no detectable difference")
    assert not any("green" in style for style in _styles(info, "difference +5.833"))


@async_test
async def test_run_detail_colours_a_better_verdict_green(home: Path) -> None:
    _with_final(home, CLEAR)
    info = await _run_info(home)
    assert "difference +2 (" in info.plain and ": better" in info.plain
    assert "bold green" in _styles(info, "difference +2")


def _add_transfer(home: Path, transfer_id: str, scores: tuple[dict[int, float], dict[int, float]]) -> None:
    with Store(home) as store:
        for arm, by_seed in zip(("candidate", "raw"), scores, strict=True):
            for seed, score in by_seed.items():
                record_training(store, RUN_ID, f"transfer-{transfer_id}-{arm}-s{seed}", purpose="transfer", arm=arm,
                                candidate_id="i0-k0" if arm == "candidate" else None, seed=seed, steps=300,
                                score=score, curve=[(300, score)], group_id=transfer_id, algo="ppo")


@async_test
async def test_transfer_tab_shows_the_t_interval_and_colours_by_the_verdict(home: Path) -> None:
    make_finished_run(home)
    _add_transfer(home, "ppo-1", TWO_SEEDS)
    _add_transfer(home, "ppo-2", CLEAR)
    app = LesrApp(home, preview=False)
    async with app.run_test(size=(140, 40)) as pilot:
        app.open_run(RUN_ID)
        await pilot.pause()
        app.screen.query_one("#run-tabs", TabbedContent).active = "run-transfer"
        await pilot.pause()
        results = app.screen.query_one(TransferPanel).query_one("#transfer-results", Static).content
    assert isinstance(results, Text)
    unclear = "difference +5.833; 95% CI bootstrap [+0.667, +11], t [-59.81, +71.48]: no detectable difference"
    assert unclear in results.plain
    assert not any("green" in style or "red" in style for style in _styles(results, unclear))
    clear = "difference +2 (+20.0%); 95% CI bootstrap"
    assert clear in results.plain and "bold green" in _styles(results, clear)
    assert results.plain.index("t [+0.7578, +3.242]: better") > results.plain.index(clear)
