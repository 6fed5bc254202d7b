"""Single frames and short clips of an env, for previews (the TUI's live view, `lesr render --random`).

Every rollout runs in the sandboxed render worker (lesr_local.render.client); this module only asks for
frames and returns them as RGB numpy arrays (H, W, 3, uint8).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from lesr_local.render.client import RenderJob, RenderSummary, run_render_job


def render_frames(
    env_id: str,
    policy_path: str | Path | None = None,
    candidate_source: str | None = None,
    *,
    random: bool = False,
    env_spec: str | None = None,
    count: int = 32,
    every: int = 2,
    width: int = 160,
    height: int = 120,
    seed: int = 0,
    max_steps: int = 1000,
    cancel: threading.Event | None = None,
    timeout: float = 180.0,
    unsafe_no_seccomp: bool = False,
) -> list[np.ndarray]:
    """Up to `count` frames, one every `every` env steps, from one episode of the policy.

    `policy_path` None means random actions (a preview before any policy exists); `candidate_source`
    None means the policy takes the raw state (the baseline). `unsafe_no_seccomp`: the run's opt-out.
    """
    frames: list[np.ndarray] = []
    job = RenderJob(
        env_id=env_id, policy_path=None if policy_path is None else str(policy_path),
        candidate_source=candidate_source if policy_path is not None else None,
        random=random or policy_path is None, env_spec=env_spec, episodes=1, max_steps=max_steps,
        seed=seed, width=width, height=height, frame_every=max(1, every), max_frames=max(1, count),
        unsafe_no_seccomp=unsafe_no_seccomp,
    )
    run_render_job(job, lambda frame: frames.append(frame.copy()), cancel=cancel, timeout=timeout)
    return frames


def render_frame(
    env_id: str,
    policy_path: str | Path | None = None,
    candidate_source: str | None = None,
    *,
    step: int = 0,
    random: bool = False,
    env_spec: str | None = None,
    width: int = 160,
    height: int = 120,
    seed: int = 0,
    cancel: threading.Event | None = None,
    timeout: float = 120.0,
) -> np.ndarray:
    """One RGB frame after `step` env steps of the policy (or of random actions when no policy is given).

    If the episode ends earlier, the episode's last frame is returned.
    """
    frames: list[np.ndarray] = []

    def keep_last(frame: np.ndarray) -> None:
        frames[:] = [frame.copy()]

    job = RenderJob(
        env_id=env_id, policy_path=None if policy_path is None else str(policy_path),
        candidate_source=candidate_source if policy_path is not None else None,
        random=random or policy_path is None, env_spec=env_spec, episodes=1, max_steps=max(step, 0),
        seed=seed, width=width, height=height, frame_every=max(step, 1), max_frames=2 if step else 1,
    )
    run_render_job(job, keep_last, cancel=cancel, timeout=timeout)
    return frames[-1]


def is_blank(frame: np.ndarray, tolerance: float = 2.0) -> bool:
    """True when a frame is (nearly) one flat colour: a failed GL context renders black or grey."""
    return float(np.asarray(frame, dtype=np.float32).std()) < tolerance


__all__ = ["RenderSummary", "is_blank", "render_frame", "render_frames"]
