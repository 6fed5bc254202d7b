"""A training worker whose engine process is SIGKILLed dies with it instead of training on, and so
does the fork server it was forked from."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

PARENT = r"""
import sys, threading
from lesr_local.config import EvalConfig, TD3Config
from lesr_local.rl.spec import TrainSpec
from lesr_local.rl.client import run_training

spec = TrainSpec(env_id="InvertedPendulum-v5", steps=200_000, seed=0, candidate_source=None,
                 learner=TD3Config(hidden_sizes=(32, 32), start_steps=100, batch_size=32),
                 eval=EvalConfig(every=100_000, episodes=1, last_k=1), threads=1)

def report(pid):
    print(pid, flush=True)

run_training(spec, on_pid=report)
"""


def test_worker_dies_when_the_engine_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "MUJOCO_GL": "egl"})
    try:
        line = parent.stdout.readline() if parent.stdout else ""
        worker_pid = int(line.strip())
        worker = psutil.Process(worker_pid)
        assert "sandbox.entry" in " ".join(worker.cmdline())  # on_pid reports the real training subprocess
        fork_server = psutil.Process(worker.ppid())  # the worker was forked from the engine's fork server
        assert "sandbox.zygote" in " ".join(fork_server.cmdline()) and fork_server.ppid() == parent.pid
        time.sleep(3)  # let it get past start-up into training
        assert worker.is_running()
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        gone, alive = psutil.wait_procs([worker, fork_server], timeout=15)
        assert worker in gone, "the orphaned training worker kept running"
        assert fork_server in gone, "the orphaned fork server kept running"
    finally:
        if parent.poll() is None:
            parent.kill()
