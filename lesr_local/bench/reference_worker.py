"""The reference loop's worker body for `lesr bench td3` (`sandbox.entry reference`): the readable
reference TD3 (`bench/td3_reference.py`) in the same sandbox as our training workers, so the
benchmark compares code, not walls. Only that worker imports this module.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import IO, Any, BinaryIO

import numpy as np
import torch

from lesr_local.bench.td3_bench import REFERENCE_JOB, bench_configs
from lesr_local.bench.td3_reference import run_reference
from lesr_local.errors import describe_exception
from lesr_local.procs import threads_per_worker
from lesr_local.rl.device import configure_threads
from lesr_local.rl.sandboxing import enter_training_sandbox
from lesr_local.rl.spec import TrainSpec
from lesr_local.sandbox import protocol
from lesr_local.sandbox.protocol import ProtocolError
from lesr_local.sandbox.restricted import load_candidate


def serve_reference_stream(stdin: BinaryIO, out: IO[bytes]) -> int:
    """The reference loop's worker (started by `sandbox.entry reference`), sandboxed like ours."""
    try:
        job = protocol.receive(stdin, REFERENCE_JOB)
        if job is None:
            raise ProtocolError("expected a reference job")
        result = _reference(job["env_id"], job["total"], job.get("source"))
        protocol.send(out, "result", **asdict(result))
    except BaseException as exc:  # noqa: BLE001 - report one line to the parent
        protocol.send(out, "failed", reason=describe_exception(exc, 300))
    return 0


def _reference(env_id: str, total: int, source: str | None) -> Any:
    # One thread per usable core: torch's own default, and what a single one of our workers gets,
    # so for one worker the ratio measures the code, not the thread policy.
    configure_threads(threads_per_worker())
    td3, evaluation = bench_configs()
    # The reference steps torch.optim.Adam, whose first step imports torch._dynamo, which wants a
    # writable temp dir: do that before the sandbox makes the file system read-only.
    probe = torch.zeros(2, requires_grad=True)
    probe.sum().backward()
    torch.optim.Adam([probe], lr=1e-3).step()
    enter_training_sandbox(TrainSpec(env_id=env_id, steps=1_000_000))
    revise, intrinsic = (lambda s: s), (lambda fs: 0.0)
    if source is not None:
        funcs = load_candidate(source)
        revise = lambda s: np.asarray(funcs.revise_state(s), dtype=np.float64)  # noqa: E731
        intrinsic = lambda fs: float(funcs.intrinsic_reward(fs))  # noqa: E731
    return run_reference(env_id, total, 0, td3, evaluation, revise, intrinsic)
