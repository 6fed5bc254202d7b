"""Videos of a policy (a candidate's, the baseline's, or random actions) as MP4 (ffmpeg) or GIF.

Frames come from the sandboxed render worker; encoding happens here with imageio (imageio-ffmpeg bundles
its own ffmpeg binary, so nothing outside PyPI is needed).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesr_local.errors import BadInput
from lesr_local.render.client import RenderJob, run_render_job

VIDEO_SUFFIXES = (".mp4", ".gif")


@dataclass
class VideoInfo:
    path: Path
    frames: int
    episodes: int = 1
    returns: list[float] = field(default_factory=list)
    fps: float = 30.0


class _Writer:
    """Opens the right imageio writer on the first frame (the fps is known by then)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fps = 30.0
        self.frames = 0
        self._writer: Any = None

    def start(self, fps: float) -> None:
        self.fps = fps if fps > 0 else 30.0

    def __call__(self, frame: np.ndarray) -> None:
        if self._writer is None:
            self._writer = self._open()
        if self.path.suffix.lower() == ".gif":
            self._writer.write(frame, duration=round(1000 / self.fps), loop=0)
        else:
            self._writer.append_data(frame)
        self.frames += 1

    def _open(self) -> Any:
        if self.path.suffix.lower() == ".gif":
            import imageio.v3 as iio

            return iio.imopen(self.path, "w", plugin="pillow")
        import imageio.v2 as imageio_v2

        return imageio_v2.get_writer(
            self.path, format="FFMPEG", fps=self.fps, codec="libx264", quality=7,
            macro_block_size=16, pixelformat="yuv420p", ffmpeg_log_level="error",
        )

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def check_video_path(out_path: str | Path) -> Path:
    """The output path, or BadInput when its suffix or folder cannot work."""
    path = Path(out_path).expanduser()
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise BadInput(f"video file must end in .mp4 or .gif, got {path.name!r}")
    if not path.parent.exists():
        raise BadInput(f"folder {path.parent} does not exist")
    return path


def render_policy_video(
    env_id: str,
    policy_path: str | Path | None,
    candidate_source: str | None,
    out_path: str | Path,
    episodes: int = 1,
    env_spec: str | None = None,
    max_steps: int = 1000,
    *,
    random: bool = False,
    seed: int = 0,
    width: int | None = None,
    height: int | None = None,
    max_fps: float | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 1800.0,
    unsafe_no_seccomp: bool = False,
) -> VideoInfo:
    """Roll out the policy for `episodes` episodes in a sandboxed worker and write the frames to a video.

    `candidate_source` None = the raw-state (baseline) policy; `policy_path` None requires random=True
    (an env preview). Every env step gives one frame, plus one frame after each reset, unless the env
    renders faster than `max_fps` (default: none for MP4, 50 for GIF, whose players cannot go faster):
    then every k-th frame is kept and the video still plays in real time. `unsafe_no_seccomp`: the
    user's opt-out, to run the candidate's F where the worker's seccomp filter cannot go up.
    """
    path = check_video_path(out_path)
    if episodes < 1:
        raise BadInput(f"episodes must be at least 1, got {episodes}")
    if policy_path is None and not random:
        raise BadInput("render_policy_video needs a policy file, or random=True for an env preview")
    if policy_path is not None and not Path(policy_path).is_file():
        raise BadInput(f"policy file not found: {policy_path}")
    is_gif = path.suffix.lower() == ".gif"
    size = 240 if is_gif else 480
    job = RenderJob(
        env_id=env_id, policy_path=None if policy_path is None else str(policy_path),
        candidate_source=candidate_source, random=random, env_spec=env_spec, episodes=episodes,
        max_steps=max_steps, seed=seed, width=width or size, height=height or size,
        max_fps=(50.0 if is_gif else 0.0) if max_fps is None else max_fps, unsafe_no_seccomp=unsafe_no_seccomp,
    )
    writer = _Writer(path)
    try:
        summary = run_render_job(job, writer, cancel=cancel, timeout=timeout, on_start=writer.start)
    finally:
        writer.close()
    return VideoInfo(
        path=path, frames=writer.frames, episodes=summary.episodes, returns=summary.returns, fps=writer.fps,
    )
