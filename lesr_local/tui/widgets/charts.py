"""Plots drawn with textual-plotext: learning curves and a per-dim Lipschitz bar chart."""

from __future__ import annotations

from textual_plotext import PlotextPlot


class CurvesPlot(PlotextPlot):
    """Evaluation value against env steps, one line per candidate (the latest few, plus the baseline)."""

    def __init__(self, *, title: str = "Learning curves", id: str | None = None,
                 classes: str | None = None, max_series: int = 6) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.max_series = max_series
        self.series: dict[str, list[tuple[int, float]]] = {}
        self.ylabel = "return"

    def on_mount(self) -> None:
        self.replot()

    def add_point(self, name: str, step: int, value: float) -> None:
        self.series.setdefault(name, []).append((step, value))
        self.replot()

    def set_series(self, series: dict[str, list[tuple[int, float]]]) -> None:
        self.series = {name: list(points) for name, points in series.items() if points}
        self.replot()

    def shown(self) -> list[str]:
        """Which series are drawn: the baseline (if any) and the most recent others."""
        names = [n for n in self.series if n != "baseline"][-self.max_series:]
        return (["baseline"] if "baseline" in self.series else []) + names

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        plt.xlabel("env steps")
        plt.ylabel(self.ylabel)
        names = self.shown()
        for name in names:
            points = self.series[name]
            plt.plot([p[0] for p in points], [p[1] for p in points], label=name, marker="braille")
        if not names:
            plt.title(f"{self.title}: no evaluation yet")
        self.refresh()


class LipschitzChart(PlotextPlot):
    """One bar per feature dim: its Lipschitz constant against the extrinsic reward."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.values: list[float] = []
        self.names: list[str] = []

    def on_mount(self) -> None:
        self.replot()

    def set_values(self, values: list[float] | None, names: list[str] | None) -> None:
        self.values = list(values or [])
        given = list(names or [])
        self.names = [given[i] if i < len(given) and given[i] else f"s[{i}]" for i in range(len(self.values))]
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if not self.values:
            plt.title("Lipschitz constants: none recorded")
            self.refresh()
            return
        plt.title("Lipschitz constant per dim (vs extrinsic reward)")
        labels = [_short(f"{index} {name}", 18) for index, name in enumerate(self.names)]
        plt.bar(labels, self.values, orientation="horizontal", width=0.3)
        self.refresh()


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
