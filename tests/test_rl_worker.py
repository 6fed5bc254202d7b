"""run_training: the sandboxed training subprocess, its progress stream, failures, cancel and resume."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import psutil
import pytest

from lesr_local.config import EvalConfig, TD3Config
from lesr_local.rl.client import run_training
from lesr_local.rl.policy_io import load_policy
from lesr_local.rl.spec import TrainProgress, TrainSpec

ENV = "InvertedPendulum-v5"

CRASHING = '''import numpy as np

def revise_state(s):
    if abs(s[1]) > 0.05:
        raise ValueError("pole too far")
    return np.concatenate([s, [s[1] * s[3]]])

def intrinsic_reward(updated_s):
    return -abs(updated_s[4])
'''

GOOD = '''import numpy as np

def revise_state(s):
    return np.concatenate([s, [s[1] * s[3], abs(s[1])]])

def intrinsic_reward(updated_s):
    return -updated_s[5]
'''


def spec_for(tmp_path: Path, steps: int, source: str | None = None, **kw: object) -> TrainSpec:
    kw.setdefault("threads", 1)
    return TrainSpec(
        env_id=ENV, steps=steps, seed=2, candidate_source=source,
        learner=TD3Config(hidden_sizes=(32, 32), start_steps=200, batch_size=32),
        eval=EvalConfig(every=300, episodes=2, last_k=3), **kw,  # type: ignore[arg-type]
    )


def test_candidate_training_in_the_sandbox_streams_progress_and_saves_the_policy(tmp_path: Path) -> None:
    events: list[TrainProgress] = []
    policy = tmp_path / "out" / "policy.safetensors"
    result = run_training(spec_for(tmp_path, 900, GOOD, policy_path=policy), events.append)
    assert result.status == "finished", result.reason
    assert result.feature_dim == 6 and result.lipschitz is not None and len(result.lipschitz) == 6
    assert [s for s, _ in result.curve] == [300, 600, 900]
    assert [e.evaluation for e in events if e.evaluation is not None] == result.curve
    assert events[-1].step == 900 and all(e.total_steps == 900 for e in events)
    assert result.peak_rss_mb > 50
    assert "seccomp" in result.walls and "read-only-fs" in result.walls  # the worker's walls message
    loaded = load_policy(policy)
    assert loaded.meta.candidate_source == GOOD and loaded.meta.feature_dim == 6


def test_candidate_crash_mid_training_fails_with_its_reason(tmp_path: Path) -> None:
    result = run_training(spec_for(tmp_path, 2000, CRASHING))
    assert result.status == "failed"
    assert result.reason is not None and result.reason.startswith("revise_state raised ValueError at step ")
    assert "pole too far" in result.reason


def test_rejected_candidate_fails_without_running(tmp_path: Path) -> None:
    source = "import os\n\ndef revise_state(s):\n    return s\n\ndef intrinsic_reward(updated_s):\n    return 0.0\n"
    result = run_training(spec_for(tmp_path, 500, source))
    assert result.status == "failed"
    assert result.reason is not None and result.reason.startswith("candidate rejected:")


def test_cancelled_training_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    spec = spec_for(tmp_path, 1500, checkpoint_dir=ckpt, checkpoint_every=400)
    cancel = threading.Event()

    def on_progress(p: TrainProgress) -> None:
        if (ckpt / "checkpoint.safetensors").exists() and p.step >= 800:
            cancel.set()

    first = run_training(spec, on_progress, cancel)
    assert first.status == "cancelled"
    assert (ckpt / "checkpoint.safetensors").exists()
    second = run_training(spec)
    assert second.status == "finished", second.reason
    assert second.steps == 1500 and 400 <= second.resumed_from < 1500
    assert [s for s, _ in second.curve] == [300, 600, 900, 1200, 1500]


def test_killed_worker_fails_with_its_signal_and_a_rerun_resumes(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    spec = spec_for(tmp_path, 1200, checkpoint_dir=ckpt, checkpoint_every=300)
    killed: list[int] = []

    def on_progress(p: TrainProgress) -> None:
        if killed or not (ckpt / "checkpoint.safetensors").exists():
            return
        for child in psutil.Process().children(recursive=True):  # forked workers are grandchildren
            cmdline = " ".join(child.cmdline())
            if "sandbox.entry" in cmdline and " train " in cmdline:
                child.send_signal(signal.SIGKILL)
                killed.append(child.pid)

    first = run_training(spec, on_progress)
    assert killed
    assert first.status == "failed"
    assert first.reason is not None and "SIGKILL" in first.reason
    second = run_training(spec)
    assert second.status == "finished", second.reason
    assert second.steps == 1200 and second.resumed_from >= 300


HANGING = '''import numpy as np

def revise_state(s):
    if abs(s[1]) > 0.1:
        n = 0
        while n >= 0:
            n = n + 1
    return np.concatenate([s, [0.0]])

def intrinsic_reward(updated_s):
    return 0.0
'''


def test_candidate_that_loops_forever_is_stopped_by_the_hang_watchdog(tmp_path: Path) -> None:
    pids: list[int] = []
    events: list[TrainProgress] = []
    result = run_training(spec_for(tmp_path, 5000, HANGING), events.append, hang_seconds=10,
                          on_pid=pids.append)
    assert events, "the training ran for a while before the pole fell past 0.1 rad"
    assert result.status == "failed"
    assert result.reason == "training worker hung: no progress for 10 s"
    assert result.steps == events[-1].step < 5000
    assert pids
    assert not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == psutil.STATUS_ZOMBIE


def test_threads_follow_the_number_of_concurrent_workers(tmp_path: Path) -> None:
    from lesr_local.procs import cpu_count

    alone = run_training(spec_for(tmp_path, 250, threads=0, workers=1))
    shared = run_training(spec_for(tmp_path, 250, threads=0, workers=2))
    assert alone.status == shared.status == "finished"
    assert alone.torch_threads == cpu_count()
    assert shared.torch_threads == max(1, cpu_count() // 2)


TRAINING_CORPUS = Path(__file__).resolve().parent / "data" / "candidates" / "training"


@pytest.mark.parametrize("path", sorted(TRAINING_CORPUS.glob("*.py")), ids=lambda p: p.stem)
def test_candidate_that_breaks_a_rule_later_fails_its_training(tmp_path: Path, path: Path) -> None:
    """Each passes the 64-state check, then breaks a rule during training: the training fails
    alone, with a one-line reason that names the step (what goes back to the LLM)."""
    from lesr_local.candidates.checks import check_candidate

    source = path.read_text()
    expect = source.splitlines()[0].removeprefix("# expect: ")
    assert check_candidate(source, "InvertedPendulum-v5").valid
    result = run_training(spec_for(tmp_path, 3000, source))
    assert result.status == "failed"
    assert result.reason is not None and expect in result.reason, result.reason
    assert " at step " in result.reason and "\n" not in result.reason
