"""Small text formatters shared by the screens (numbers, deltas, statuses, sizes, times).

Text that came from a candidate, the LLM, the store or the file system is shown through `plain`
(or another `Text`), never as a bare string: Textual reads bare strings in widgets, table cells and
options as markup, so a reason such as "[/]" would crash the screen and "[@click=...]" would
become a live action link.
"""

from __future__ import annotations

import math
import time

from rich.text import Text

STATUS_STYLES = {
    "pending": "dim", "running": "bold yellow", "finished": "green", "failed": "red",
    "rejected": "magenta", "interrupted": "yellow", "stopped": "yellow", "paused": "cyan", "writing": "cyan",
    "accepted": "cyan", "repairing": "magenta", "error": "bold red",
}


def plain(value: object, style: str = "") -> Text:
    """`value` as literal text: brackets in it are characters, never markup."""
    return Text(str(value), style=style)


def fmt_score(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def fmt_mean_std(mean: float | None, std: float | None) -> str:
    """`mean ± std` with the same number of decimals on both sides."""
    if mean is None:
        return "—"
    decimals = 0 if abs(mean) >= 1000 else 1 if abs(mean) >= 10 else 3
    spread = "—" if std is None else f"{std:.{decimals}f}"
    return f"{mean:,.{decimals}f} ± {spread}"


def relative_improvement(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None:
        return None
    if abs(baseline) < 1e-9:
        return None
    return (value - baseline) / abs(baseline)


def fmt_delta(value: float | None, baseline: float | None) -> Text:
    change = relative_improvement(value, baseline)
    if change is None:
        return Text("—", style="dim", justify="right")
    style = "green" if change > 0 else ("red" if change < 0 else "")
    return Text(f"{change:+.1%}", style=style, justify="right")


def fmt_progress(step: int | None, total: int | None, width: int = 8) -> Text:
    if not total:
        return Text("")
    done = max(0, min(step or 0, total))
    filled = round(width * done / total)
    return Text.assemble(("█" * filled, "green"), ("░" * (width - filled), "dim"), f" {done / total:4.0%}")


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def fmt_bytes(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def fmt_count(value: int | None) -> str:
    if value is None:
        return "—"
    for div, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if value >= div:
            return f"{value / div:.1f}{suffix}"
    return str(value)


def fmt_time(stamp: float | None) -> str:
    if stamp is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0 or math.isinf(seconds):
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
