"""The one headline figure of a run, the same in every view (history, run row, live status, reporter).

Once the final evaluation has a paired result, the headline is that comparison: seed means of the
best candidate and the raw-state baseline on the same seeds, their difference and the verdict.
Before then it is the search figure, labelled "search score": the best of K x I single-seed
trainings, which is biased upwards (the winner's curse) and is never shown as an improvement.
"""

from __future__ import annotations

from typing import Any


def headline(final: dict[str, Any] | None, best: dict[str, Any] | None,
             baseline: dict[str, Any] | None) -> dict[str, Any] | None:
    """kind "final" (paired seed means, difference, verdict) or kind "search" (single-seed scores)."""
    if final is not None and (final.get("best") or {}).get("mean") is not None:
        best_mean = final["best"]["mean"]
        base_mean = (final.get("baseline") or {}).get("mean")
        difference = final.get("improvement") if "improvement_ci95" in final else (
            None if base_mean is None else best_mean - base_mean)  # summaries written before pairing
        return {"kind": "final", "best": best_mean, "baseline": base_mean, "improvement": difference,
                "improvement_relative": final.get("improvement_relative"), "verdict": final.get("verdict"),
                "seeds": final["best"].get("seeds")}
    if best is not None and best.get("score") is not None:
        return {"kind": "search", "best": best.get("score"), "baseline": (baseline or {}).get("score"),
                "improvement": None, "improvement_relative": None, "verdict": None, "seeds": 1}
    return None


def run_headline(run: Any) -> dict[str, Any] | None:
    """The headline of a store RunRecord: from its summary once it has one, else its search best."""
    summary = run.summary or {}
    found = summary.get("headline")
    if found and (found.get("kind") == "final" or not summary.get("final")):
        return found
    return headline(summary.get("final"), summary.get("best") or {"score": run.best_score},
                    summary.get("baseline") or {"score": run.baseline_score})


def headline_text(head: dict[str, Any] | None) -> str:
    """One line, e.g. 'final 26.0 vs baseline 20.0: +6.0 (+30.0%), better, 5 seeds'."""
    if head is None:
        return "no score yet"
    digits = _decimals(head.get("best"), head.get("baseline"))
    if head["kind"] == "final":
        text = f"final {_num(head['best'], digits)} vs baseline {_num(head['baseline'], digits)}"
        if head.get("improvement") is not None:
            text += f": {head['improvement']:+.4g}"
            if head.get("improvement_relative") is not None:
                text += f" ({head['improvement_relative']:+.1%})"
        if head.get("verdict"):
            text += f", {head['verdict']}"
        seeds = head.get("seeds")
        if isinstance(seeds, int):
            text += f", {seeds} seed{'s' if seeds != 1 else ''}"
        return text
    text = f"search score {_num(head['best'], digits)} (one seed, best of the search)"
    if head.get("baseline") is not None:
        text += f"; control {_num(head['baseline'], digits)}"
    return text


def _decimals(*values: float | None) -> int:
    """One precision for numbers shown side by side, from the largest magnitude."""
    largest = max((abs(v) for v in values if v is not None), default=0.0)
    return 0 if largest >= 1000 else 1 if largest >= 10 else 3


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"
