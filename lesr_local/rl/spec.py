"""The trainer's contract types (torch-free, so the engine and the worker's bootstrap import them
cheaply; `lesr_local.rl.trainer` re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lesr_local.config import EvalConfig, TD3Config

MAX_BUFFER_ROWS = 1_000_000


@dataclass
class TrainSpec:
    env_id: str
    steps: int
    seed: int = 0
    candidate_source: str | None = None  # None = raw-state baseline
    intrinsic_weight: float = 0.02
    td3: TD3Config = field(default_factory=TD3Config)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint_dir: Path | None = None
    checkpoint_every: int = 10_000  # env steps between checkpoints (taken at the next episode end)
    device: str = "auto"
    threads: int = 0  # 0 = cores // concurrent workers (at least 1)
    env_spec: str | None = None
    policy_path: Path | None = None
    workers: int = 0  # concurrent trainings sharing this machine; 0 = count the live ones
    checkpoint_buffer: bool = True  # include the replay buffer (exact resume; larger files)
    # Successive halving: stop at exactly this step (< steps), evaluate, checkpoint and return status
    # "paused"; the same spec with a later pause (or none) continues from that checkpoint. A pause
    # mid-episode is treated like a time-limit truncation (the bootstrap is not cut; the resumed
    # training starts a fresh episode). Needs checkpoint_dir.
    pause_at_step: int | None = None


@dataclass
class TrainProgress:
    step: int
    total_steps: int
    steps_per_s: float
    episode_return: float | None  # the most recent finished episode (extrinsic return)
    evaluation: tuple[int, float] | None  # (step, value) when this event reports an evaluation


@dataclass
class TrainResult:
    status: str  # "finished" | "failed" | "cancelled" | "paused" (reached spec.pause_at_step; steps = that step)
    reason: str | None
    score: float | None  # mean of the last eval.last_k evaluations
    curve: list[tuple[int, float]]
    lipschitz: list[float] | None  # per dim of F(s), bias-corrected EMA over episodes
    feature_dim: int
    steps: int
    seconds: float
    steps_per_s: float
    updates_per_s: float
    policy_path: str | None
    train_steps_per_s: float = 0.0  # env steps/s after the random warm-up (what `bench td3` reports)
    resumed_from: int = 0  # the step a checkpoint resumed this training at (0 = fresh start)
    peak_rss_mb: float = 0.0  # the worker's peak resident memory (set by rl.worker)
    torch_threads: int = 0  # intra-op threads the training ran with
    device: str = ""  # the torch device it trained on




def buffer_rows(spec: TrainSpec) -> int:
    """Replay rows: the run's steps (every transition fits), at most Fujimoto's million."""
    return max(1, min(spec.steps, MAX_BUFFER_ROWS))
