"""Helpers for the app's tests: a run written into a real store, real engine events for a live screen."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from lesr_local import events as ev
from lesr_local.config import preset
from lesr_local.store.db import Store
from tests.helpers_runs import record_training

CODE = '''import numpy as np

def revise_state(s):
    tip_speed = s[2] * s[3]
    return np.concatenate([s, [tip_speed, abs(s[1])]])

def intrinsic_reward(updated_s):
    return -abs(float(updated_s[5]))
'''

RUN_ID = "r-tui-0001"


def make_finished_run(home: Path, run_id: str = RUN_ID, status: str = "finished") -> str:
    """A small but complete run (baseline, two search candidates, final evaluation) in the real store."""
    store = Store(home)
    # A whole stored config, as the engine writes one (follow-up commands validate it).
    config = {**preset("smoke").to_dict(), "samples": 2, "iterations": 1, "steps": 1200, "seeds": 2}
    store.create_run(run_id, "InvertedPendulum-v5", "smoke", config)
    store.start_iteration(run_id, 0)
    record_training(store, run_id, "control", purpose="control", arm="raw", score=20.0,
                    curve=[(300, 8.0), (600, 14.0), (1200, 20.0)])
    store.add_candidate(run_id, "i0-k0", iteration=0, sample=0, code=CODE, extra_dims=2)
    record_training(store, run_id, "i0-k0", purpose="search", candidate_id="i0-k0", score=25.0,
                    curve=[(300, 9.0), (600, 18.0), (1200, 25.0)], lipschitz=[0.5, 1.5, 0.25, 0.75, 2.0, 1.0],
                    dim_names=["cart position", "pole angle", "cart velocity", "pole angular velocity", "tip speed",
                               "abs angle"])
    store.add_candidate(run_id, "i0-k1", iteration=0, sample=1, code="def revise_state(s):\n    return s\n",
                        status="rejected", reason="intrinsic_reward is missing")
    store.record_llm_call(run_id, "i0-k0-a0", purpose="candidate", iteration=0, sample=0, attempt=0,
                          prompt="...", reply="Here is the module:\n" + CODE, prompt_tokens=300,
                          completion_tokens=120, seconds=3.0, finish_reason="stop")
    store.finish_iteration(run_id, 0, "The tip speed feature helps: keep it and add the pole's energy.", [])
    final = {
        "best": {"mean": 26.0, "std": 1.0, "iqm": 26.0, "auc": 17.5, "seeds": 2, "per_seed": []},
        "baseline": {"mean": 20.0, "std": 2.0, "iqm": 20.0, "auc": 14.0, "seeds": 2, "per_seed": []},
        "improvement": 6.0, "improvement_relative": 0.3, "improvement_ci95": [5.0, 7.0], "verdict": "better",
        "paired_seeds": [1, 2], "excluded_seeds": [],
    }
    summary = {
        "run_id": run_id, "status": status, "final": final,
        "verdict": "better: the best candidate beats the raw-state baseline at 95%: difference +6 (95% CI [+5, +7])"
                   " over 2 paired seeds; preliminary (fewer than 5 seeds)",
        "headline": {"kind": "final", "best": 26.0, "baseline": 20.0, "improvement": 6.0,
                     "improvement_relative": 0.3, "verdict": "better", "seeds": 2},
        "total_env_steps": 8400, "video_path": None,
    }
    store.end_run(run_id, status, None if status == "finished" else "interrupted by the user", summary, "i0-k0",
                  25.0, 20.0)
    store.close()
    return run_id


def live_events(run_id: str = "r-live-0001") -> list[ev.Event]:
    """What the engine emits for one short iteration, token by token."""
    out: list[ev.Event] = [
        ev.RunStarted(run_id, env_id="InvertedPendulum-v5", config={"iterations": 1, "samples": 1}),
        ev.IterationStarted(run_id, iteration=0, iterations=1),
        ev.TrainingStarted(run_id, training_id="control", total_steps=1200, seed=0, purpose="control"),
        ev.LLMStarted(run_id, purpose="candidate", iteration=0, sample=0, prompt_tokens=250),
    ]
    out += [ev.LLMToken(run_id, purpose="candidate", iteration=0, sample=0, text=piece)
            for piece in ["def ", "revise_state", "(s):", "\n    ", "return s"]]
    out += [
        ev.LLMFinished(run_id, purpose="candidate", iteration=0, sample=0, prompt_tokens=250,
                       completion_tokens=5, seconds=0.5, tokens_per_s=10.0),
        ev.CandidateAccepted(run_id, candidate_id="i0-k0", iteration=0, sample=0, extra_dims=2),
        ev.TrainingStarted(run_id, training_id="i0-k0", total_steps=1200, seed=0, candidate_id="i0-k0"),
        ev.TrainingProgress(run_id, training_id="i0-k0", step=600, total_steps=1200, steps_per_s=100.0,
                            eta_s=6.0),
        ev.EvaluationDone(run_id, training_id="control", step=600, value=10.0),
        ev.EvaluationDone(run_id, training_id="i0-k0", step=600, value=12.0),
        ev.TrainingFinished(run_id, training_id="control", status="finished", score=20.0, lipschitz=None),
    ]
    return out


def async_test(func: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async Pilot test with asyncio.run (no pytest async plugin is installed)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(func(*args, **kwargs))

    return wrapper


def plain(widget: Any, width: int = 120) -> str:
    """What a Static shows, as plain text (Text, Table and Syntax contents rendered by Rich)."""
    import io

    from rich.console import Console

    content = widget.content
    if isinstance(content, str):
        return content
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(content)
    return console.export_text()
