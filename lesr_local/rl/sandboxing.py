"""Sandbox limits for a training worker (torch is already imported and its threads started)."""

from __future__ import annotations

import numpy as np
import psutil
import torch

from lesr_local.config import TD3Config
from lesr_local.envs.make import make_env
from lesr_local.rl.buffer import Batch
from lesr_local.rl.device import resolve_device
from lesr_local.rl.spec import TrainSpec, buffer_rows
from lesr_local.rl.td3 import TD3
from lesr_local.sandbox.limits import SandboxLimits, SandboxReport, apply_limits

HEADROOM_MB = 6144  # virtual memory for envs, evaluation, checkpoints and torch's allocator


def warm_up_torch(device: torch.device) -> None:
    """Start torch's thread pool and run the real update path once on the training's device (two
    TD3 updates of a tiny agent, so the actor step too) before the limits make lazy imports and
    allocations fail. On a GPU this also creates the CUDA context and the BLAS handles, whose large
    virtual reservations then count as already mapped in `training_limits`."""
    agent = TD3(3, 2, -np.ones(2), np.ones(2), TD3Config(hidden_sizes=(8, 8)), device)
    batch = Batch(obs=torch.randn(4, 3, device=device), act=torch.rand(4, 2, device=device),
                  reward=torch.randn(4, device=device), next_obs=torch.randn(4, 3, device=device),
                  not_done=torch.ones(4, device=device))
    for _ in range(2):  # the trainer seeds torch afterwards, so the RNG draws here change nothing
        agent.update(batch)
    agent.act(np.zeros(3))
    a = torch.randn(256, 256)
    _ = a @ a  # a full-size matmul: the intra-op thread pool starts now


def training_limits(spec: TrainSpec) -> SandboxLimits:
    """Generous address-space cap: what torch already mapped + the replay buffer + headroom."""
    mapped_mb = psutil.Process().memory_info().vms / 2**20
    row_bytes = 4 * 512  # float32 row of (2 * feature_dim + act_dim + 2) for up to ~250 feature dims
    buffer_mb = buffer_rows(spec) * row_bytes / 2**20
    return SandboxLimits(
        address_space_mb=int(mapped_mb + buffer_mb + HEADROOM_MB),
        cpu_seconds=None,  # trainings run for hours; the parent's hang watchdog covers loops
        wall_seconds=float("inf"),
        file_size_mb=0,  # no file writes: checkpoints and the policy stream to the parent
        open_files=256,
        read_only_fs=True,
        unsafe_no_seccomp=spec.unsafe_no_seccomp,
    )


def preload_env(spec: TrainSpec) -> None:
    """Build one env first: importing gymnasium's MuJoCo envs probes GLFW in a subprocess, which
    the sandbox forbids, and registers the env families that make_env needs later."""
    make_env(spec.env_id, env_spec=spec.env_spec).close()


def enter_training_sandbox(spec: TrainSpec) -> SandboxReport:
    warm_up_torch(resolve_device(spec.device))
    preload_env(spec)
    return apply_limits(training_limits(spec))
