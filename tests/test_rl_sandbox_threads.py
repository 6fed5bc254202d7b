"""A training worker of a non-root user keeps its torch threads under RLIMIT_NPROC = 0.

For a user other than root, the sandbox sets RLIMIT_NPROC to 0, which refuses every new task,
threads included. torch starts its intra-op thread pool lazily, at the first parallel operation, so
a worker that met the limit with a cold pool would die in libgomp ("Thread creation failed") on its
first full-size batch. `warm_up_torch` starts the pool before the walls go up. The test replays the
worker's order (threads, warm-up, env, limit, then training) in a subprocess whose real uid is not
root, the case our root CI never meets otherwise, and a control run without the warm-up shows that
the limit really bites.
"""

from __future__ import annotations

import os
import subprocess
import sys

WORKER_ORDER = """
import os, resource, sys, threading
import torch
from lesr_local.config import EvalConfig, TD3Config
from lesr_local.rl.device import configure_threads
from lesr_local.rl.features import Features
from lesr_local.rl.sandboxing import preload_env, warm_up_torch
from lesr_local.rl.trainer import Trainer, TrainSpec
from lesr_local.sandbox.capabilities import drop_capabilities

spec = TrainSpec(env_id="InvertedPendulum-v5", steps=300, seed=0, threads=2, device="cpu",
                 learner=TD3Config(start_steps=200, batch_size=256),  # 100 full-size updates after the limit
                 eval=EvalConfig(every=150, episodes=1, last_k=2))
configure_threads(2)
if sys.argv[1] == "warm":
    warm_up_torch(torch.device("cpu"))
preload_env(spec)
if os.getuid() == 0:
    os.setresuid(65534, 0, 0)  # a non-root real uid: the kernel applies RLIMIT_NPROC to it
problem = drop_capabilities()  # without CAP_SYS_RESOURCE nothing bypasses the limit
assert problem is None, problem
resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
try:
    threading.Thread(target=lambda: None).start()
except RuntimeError:
    pass
else:
    sys.exit("RLIMIT_NPROC did not refuse a new thread")
trainer = Trainer(spec, Features())
result = trainer.run()
print(result.status, torch.get_num_threads(), len(result.curve))
"""


def _replay(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WORKER_ORDER, mode], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MUJOCO_GL": "egl"})


def test_warmed_up_worker_trains_with_two_threads_under_a_zero_task_limit() -> None:
    warm = _replay("warm")
    assert warm.returncode == 0, warm.stderr[-2000:]
    assert warm.stdout.split() == ["finished", "2", "2"]


def test_without_the_warm_up_the_first_batch_dies_creating_threads() -> None:
    cold = _replay("cold")
    assert cold.returncode != 0
    assert "Thread creation failed" in cold.stderr, cold.stderr[-2000:]
