"""Sandbox limits for a training worker (torch is already imported and its threads started)."""

from __future__ import annotations

import psutil
import torch

from lesr_local.candidates.sandbox import SandboxLimits, SandboxReport, apply_limits
from lesr_local.rl.spec import TrainSpec, buffer_rows

HEADROOM_MB = 6144  # virtual memory for envs, evaluation, checkpoints and torch's allocator


def warm_up_torch() -> None:
    """Start torch's thread pool and import what its optimisers load lazily (torch._dynamo wants a
    writable temp dir at import) before the limits make that impossible."""
    a = torch.randn(256, 256, requires_grad=True)
    (a @ a).sum().backward()
    opt = torch.optim.Adam([a], lr=1e-3, fused=True)
    opt.step()


def training_limits(spec: TrainSpec) -> SandboxLimits:
    """Generous address-space cap: what torch already mapped + the replay buffer + headroom."""
    mapped_mb = psutil.Process().memory_info().vms / 2**20
    row_bytes = 4 * 512  # float32 row of (2 * feature_dim + act_dim + 2) for up to ~250 feature dims
    buffer_mb = buffer_rows(spec) * row_bytes / 2**20
    return SandboxLimits(
        address_space_mb=int(mapped_mb + buffer_mb + HEADROOM_MB),
        cpu_seconds=None,  # trainings run for hours; the parent's hang watchdog covers loops
        wall_seconds=float("inf"),
        file_size_mb=0,  # no file writes: checkpoints and the policy go to the parent over the pipe
        open_files=256,
        read_only_fs=True,
    )


def preload_env(spec: TrainSpec) -> None:
    """Build one env first: importing gymnasium's MuJoCo envs probes GLFW in a subprocess, which
    the sandbox forbids, and registers the env families that make_env needs later."""
    from lesr_local.envs.make import make_env

    make_env(spec.env_id, env_spec=spec.env_spec).close()


def enter_training_sandbox(spec: TrainSpec) -> SandboxReport:
    warm_up_torch()
    preload_env(spec)
    return apply_limits(training_limits(spec))
