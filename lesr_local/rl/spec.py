"""The trainer's contract types (torch-free, so the engine and the worker's bootstrap import them
cheaply; `lesr_local.rl.trainer` re-exports them)."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesr_local.config import SHAPINGS, EvalConfig, TD3Config

MAX_BUFFER_ROWS = 1_000_000


@dataclass
class TrainSpec:
    env_id: str
    steps: int
    seed: int = 0
    candidate_source: str | None = None  # None = raw-state baseline
    intrinsic_weight: float = 0.02
    # The learner's settings: all of them for our TD3; SAC and PPO take the shared ones (network sizes,
    # learning rate, batch size, warm-up, tau, gamma; rl/sb3_trainer.py)
    learner: TD3Config = field(default_factory=TD3Config)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint_dir: Path | None = None
    checkpoint_every: int = 10_000  # env steps between checkpoints (taken at the next episode end)
    device: str = "auto"
    threads: int = 0  # 0 = cores // concurrent workers (at least 1)
    env_spec: str | None = None
    policy_path: Path | None = None
    workers: int = 0  # concurrent trainings sharing this machine; 0 = count the live ones
    checkpoint_buffer: bool = True  # include the replay buffer (exact resume; larger files)
    runtime_checks: bool = True  # enforce the candidate rules on every call (features.RuntimeChecks)
    # How G enters the stored reward: "additive" r + w*G(F(s')) (the paper), or "potential"
    # r + w*(gamma*G(F(s')) - G(F(s))) with G(F(s')) = 0 on a true termination (Ng et al. 1999).
    shaping: str = "additive"
    # What the agent observes: "features" = F(s); "raw" = the raw state s, F feeding G only
    # (the reward_only ablation).
    observation: str = "features"
    # Successive halving: stop at exactly this step (< steps), evaluate, checkpoint and return status
    # "paused"; the same spec with a later pause (or none) continues from that checkpoint. A pause
    # mid-episode is treated like a time-limit truncation (the bootstrap is not cut; the resumed
    # training starts a fresh episode). Needs checkpoint_dir.
    pause_at_step: int | None = None
    algo: str = "td3"  # rl.algos: our TD3, or stable-baselines3's sac | ppo | sb3-td3 (rl/sb3_trainer.py)
    # The user's opt-out (--unsafe-no-seccomp): load the candidate even where the worker's seccomp
    # filter cannot go up. A decision about the machine, not part of what the training is.
    unsafe_no_seccomp: bool = False


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
    train_steps_per_s: float = 0.0
    train_steps_per_cpu_s: float = 0.0  # the same steps per CPU-second of the worker (load-independent)  # env steps/s after the random warm-up (what `bench td3` reports)
    resumed_from: int = 0  # the step a checkpoint resumed this training at (0 = fresh start)
    peak_rss_mb: float = 0.0  # the worker's peak resident memory (set by rl.client)
    torch_threads: int = 0  # intra-op threads the training ran with
    device: str = ""  # the torch device it trained on
    # failed: "candidate" when the candidate's code broke a rule or raised (an outcome of the candidate),
    # None otherwise (the parent counts every other failure as the infrastructure's)
    failure: str | None = None
    numerics: str | None = None  # torch version, device type and CPU model (trainings/keys.py)
    # The sandbox walls its worker had up (SandboxReport.walls() names), as the worker's `walls`
    # message said; set by the parent (rl.client.Supervision), whatever the worker claims in its result.
    walls: list[str] = field(default_factory=list)


__all__ = ["CANDIDATE_FAILURE", "OBSERVATIONS", "SHAPINGS", "TrainProgress", "TrainResult", "TrainSpec",
           "buffer_rows"]

OBSERVATIONS = ("features", "raw")
CANDIDATE_FAILURE = "candidate"


def failed_result(status: str, reason: str, *, steps: int = 0, seconds: float = 0.0,
                  feature_dim: int = 0) -> TrainResult:
    """A TrainResult for a training that did not finish (the one place such results are built)."""
    return TrainResult(status=status, reason=reason, score=None, curve=[], lipschitz=None,
                       feature_dim=feature_dim, steps=steps, seconds=seconds, steps_per_s=0.0,
                       updates_per_s=0.0, policy_path=None)


def buffer_rows(spec: TrainSpec) -> int:
    """Replay rows: the run's steps (every transition fits), at most Fujimoto's million."""
    return max(1, min(spec.steps, MAX_BUFFER_ROWS))


# -- JSON transport (the worker protocol carries no pickles) --------------------------------------


def spec_to_json(spec: TrainSpec) -> dict[str, Any]:
    """A TrainSpec as plain JSON values (Paths as strings, tuples as lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(spec)


def spec_from_json(data: dict[str, Any]) -> TrainSpec:
    """The inverse of `spec_to_json`; unknown keys are an error (a mismatched worker)."""
    return _build(TrainSpec, data)


def _build(cls: type, data: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}")
    return cls(**{key: _convert(hints[key], value) for key, value in data.items()})


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(options[0], value) if len(options) == 1 else value
    if dataclasses.is_dataclass(hint):
        return _build(hint, value)
    if hint is Path:
        return Path(value)
    if origin is tuple:
        return tuple(value)
    if hint is float:
        return float(value)
    return value
