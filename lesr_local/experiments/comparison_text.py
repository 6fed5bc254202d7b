"""A paired comparison in one line, the same in every view (`lesr show`, `lesr transfer`, the TUI, exports).

The line gives the difference of the paired means, the relative figure only where the statistics
gave one (`improvement_relative`, None near a zero baseline), BOTH 95% intervals the verdict rests
on (paired bootstrap and Student's t: "better"/"worse" needs both to exclude 0, see
experiments/statistics.py) and the verdict label. With 2 seeds the bootstrap interval is just the range
of the two differences; printed alone above "no detectable difference" it reads as a contradiction.
"""

from __future__ import annotations

from collections.abc import Sequence

LABEL_STYLES = {"better": "bold green", "worse": "bold red"}  # rich styles by verdict label


def interval(ci: Sequence[float] | None) -> str:
    return "-" if ci is None else f"[{ci[0]:+.4g}, {ci[1]:+.4g}]"


def comparison_text(difference: float | None, relative: float | None, bootstrap: Sequence[float] | None,
                    t: Sequence[float] | None, label: str | None, *, has_t: bool = True) -> str:
    """e.g. 'difference +5.833; 95% CI bootstrap [+0.667, +11], t [-59.81, +71.48]: no detectable difference'.

    `has_t=False` for figures stored before the t interval existed (none is printed, not a "-")."""
    if difference is None:
        return f"difference -: {label or 'no detectable difference'}"
    text = f"difference {difference:+.4g}" + ("" if relative is None else f" ({relative:+.1%})")
    if bootstrap is None and t is None:
        text += " (too few paired seeds for an interval)"
    else:
        text += f"; 95% CI bootstrap {interval(bootstrap)}" + (f", t {interval(t)}" if has_t else "")
    return text + (f": {label}" if label else "")


def label_style(label: str | None) -> str:
    return LABEL_STYLES.get(label or "", "bold")
