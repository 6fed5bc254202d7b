"""The run detail's Transfer tab: the run's transfers (paper §4.5) and a form that starts one.

A transfer runs in a thread worker (`experiments.transfer.run_transfer` with a local process executor:
every training is a sandboxed worker); progress comes back through `call_from_thread`. Leaving the
screen or pressing Stop cancels it; the trainings keep their checkpoints, so starting the same
transfer again continues it.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, ProgressBar, Select, Static

from lesr_local.errors import LesrError
from lesr_local.experiments.comparison_text import comparison_text, label_style
from lesr_local.experiments.transfer import plan_transfer, run_transfer
from lesr_local.experiments.transfer_report import transfer_reports
from lesr_local.rl.algos import TRANSFER_ALGOS
from lesr_local.store import Store
from lesr_local.trainings.executors import LocalProcessExecutor, default_workers


def transfer_summary(report: dict[str, Any]) -> Text:
    """One transfer as a few lines: per arm mean ± std and seeds, the difference with the bootstrap and t
    intervals and the verdict label (search/comparison_text.py), the verdict sentence."""

    def arm(a: dict[str, Any]) -> str:
        if a["mean"] is None:
            return "—"
        seeds = ", ".join(f"s{s['seed']} " + ("—" if s["score"] is None else f"{s['score']:.2f}")
                          for s in a["per_seed"])
        spread = "" if a["std"] is None else f" ± {a['std']:.2f}"
        return f"{a['mean']:.2f}{spread}  ({seeds})"

    text = Text(f"{report['transfer_id']} · {report['algo'].upper()} · {report['steps']:,} steps × "
                f"{len(report['seeds'])} seeds · {report['status']}\n", style="bold")
    text.append(f"  best ({report['source_candidate_id']})  {arm(report['best'])}\n")
    text.append(f"  raw state        {arm(report['baseline'])}\n")
    if report["improvement"] is not None:
        # Coloured by the verdict, which needs both intervals to exclude 0, never by the sign of the mean.
        label = report.get("verdict_label")
        text.append("  " + comparison_text(report["improvement"], report.get("improvement_relative"),
                                           report["improvement_ci95"], report.get("improvement_ci95_t"), label),
                    style=label_style(label))
        text.append("\n")
    text.append(f"  {report['verdict']}\n")
    return text


class TransferPanel(Vertical):
    DEFAULT_CSS = """
    TransferPanel { height: 1fr; }
    TransferPanel #transfer-form { height: auto; }
    TransferPanel #transfer-form Input { width: 14; }
    TransferPanel #transfer-form Select { width: 14; }
    TransferPanel #transfer-form Label { padding: 1 1 0 1; }
    TransferPanel #transfer-progress { margin: 0 1; }
    """

    def __init__(self, store: Store, run_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store  # per-thread connections: the transfer's thread gets its own
        self.run_id = run_id
        self.cancel: threading.Event | None = None
        self.steps_seen: dict[tuple[str, int], int] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="transfer-form"):
            yield Label("algo")
            yield Select([(a.upper(), a) for a in TRANSFER_ALGOS], value="sac", allow_blank=False,
                         id="transfer-algo")
            yield Label("seeds")
            yield Input(placeholder="run's", id="transfer-seeds", type="integer")
            yield Label("steps")
            yield Input(placeholder="run's", id="transfer-steps", type="integer")
            yield Button("Start transfer", id="transfer-start", variant="primary")
            yield Button("Stop", id="transfer-stop", disabled=True)
        yield ProgressBar(id="transfer-progress", show_eta=False)
        yield Static("", id="transfer-status")
        with VerticalScroll():
            yield Static("", id="transfer-results")

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        store = self.store
        try:
            reports = transfer_reports(store, self.run_id)
        except LesrError as exc:
            self.query_one("#transfer-results", Static).update(Text(str(exc), style="red"))
            return
        text = Text()
        for report in reports:
            text.append_text(transfer_summary(report))
            text.append("\n")
        self.query_one("#transfer-results", Static).update(
            text if reports else Text("no transfer yet: train the best F/G and the raw state with SAC or PPO",
                                      style="dim"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "transfer-start":
            self.start()
        elif event.button.id == "transfer-stop" and self.cancel is not None:
            self.cancel.set()
            self._status("stopping ... (checkpoints stay; start the same transfer again to continue)")

    def start(self) -> None:
        if self.cancel is not None:
            return
        algo = str(self.query_one("#transfer-algo", Select).value)
        seeds = self._int("#transfer-seeds")
        steps = self._int("#transfer-steps")
        self.cancel = threading.Event()
        self.steps_seen.clear()
        self.query_one("#transfer-start", Button).disabled = True
        self.query_one("#transfer-stop", Button).disabled = False
        self._status(f"starting a {algo.upper()} transfer ...")
        self.run_worker(lambda: self._run(algo, seeds, steps, self.cancel), thread=True, exclusive=True,
                        group="transfer")

    def _int(self, selector: str) -> int | None:
        value = self.query_one(selector, Input).value.strip()
        return int(value) if value else None

    def _run(self, algo: str, seeds: int | None, steps: int | None, cancel: threading.Event | None) -> None:
        store = self.store
        try:
            plan = plan_transfer(store, self.run_id, algo, seeds, steps)
        except LesrError as exc:
            self.app.call_from_thread(self._finished, Text(str(exc), style="red"))
            return
        total = 2 * len(plan.seeds) * plan.steps
        self.app.call_from_thread(self._started, plan, total)
        executor = LocalProcessExecutor(min(2 * len(plan.seeds), default_workers()))
        try:
            report = run_transfer(
                store, plan, executor, cancel=cancel,
                on_progress=lambda arm, seed, p: self.app.call_from_thread(self._progress, arm, seed, p.step),
            )
        except Exception as exc:  # noqa: BLE001 - shown in the tab, the app stays up
            self.app.call_from_thread(self._finished, Text(f"transfer failed: {exc}", style="red"))
            return
        finally:
            executor.close()
        style = "green" if report["status"] == "finished" else "yellow"
        self.app.call_from_thread(self._finished, Text(f"transfer {report['transfer_id']}: {report['status']}",
                                                       style=style))

    def _started(self, plan: Any, total: int) -> None:
        verb = "continuing" if plan.continued else "running"
        self._status(f"{verb} {plan.transfer_id}: {plan.algo.upper()}, seeds {', '.join(map(str, plan.seeds))}, "
                     f"{plan.steps:,} steps each")
        self.query_one("#transfer-progress", ProgressBar).update(total=total, progress=0)
        self.reload()

    def _progress(self, arm: str, seed: int, step: int) -> None:
        self.steps_seen[(arm, seed)] = step
        self.query_one("#transfer-progress", ProgressBar).update(progress=sum(self.steps_seen.values()))

    def _finished(self, message: Text) -> None:
        self.cancel = None
        self.query_one("#transfer-start", Button).disabled = False
        self.query_one("#transfer-stop", Button).disabled = True
        self._status(message)
        self.reload()

    def _status(self, message: str | Text) -> None:
        self.query_one("#transfer-status", Static).update(message if isinstance(message, Text) else Text(message))

    def on_unmount(self) -> None:
        if self.cancel is not None:
            self.cancel.set()
