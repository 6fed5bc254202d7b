"""The render worker, parent side: a subprocess that rolls out a policy and streams RGB frames back
(its body is `render/worker.py`, imported only inside the worker).

A candidate's `revise_state` is needed to run its policy, and generated code never runs in the engine or
UI process, so rollouts happen here, inside the sandbox. The parent side (`run_render_job`) starts
`sandbox.entry render` with the GL backend chosen by `lesr_local.render.gl`, sends a `render` message
(the RenderJob as JSON) and streams the policy file to it (the worker is given bytes, never a path),
then reads `info` (fps), `frame` (height, width; RGB bytes as payload), and `done` or `failed`,
each validated against RENDER_SCHEMA. Video encoding stays in the parent (it needs the ffmpeg
subprocess, which the sandbox forbids).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lesr_local.errors import BadInput, LesrError, one_line
from lesr_local.render.gl import detect_backend
from lesr_local.sandbox.environment import worker_env
from lesr_local.sandbox.protocol import DICT, INT, LIST, NUM, STR, Message, MessageSpec, ProtocolError, Schema
from lesr_local.sandbox.supervisor import FILE_MESSAGES, Worker, WorkerEnded

MAX_FRAME_BYTES = 4096 * 4096 * 3
RENDER_SCHEMA = Schema("render worker", {
    "info": MessageSpec(required={"fps": NUM}),
    "frame": MessageSpec(required={"height": INT, "width": INT}, max_payload=MAX_FRAME_BYTES),
    "done": MessageSpec(required={"frames": INT, "episodes": INT, "returns": LIST, "steps": INT, "fps": NUM}),
    "failed": MessageSpec(required={"reason": STR}),
})
JOB_SCHEMA = Schema("engine", {"render": MessageSpec(required={"job": DICT}), "start": MessageSpec(),
                               **FILE_MESSAGES}, max_string=200_000)


@dataclass
class RenderJob:
    env_id: str
    policy_path: str | None = None  # a saved TD3 policy (rl.policy_io); None with random=True
    candidate_source: str | None = None  # the candidate module; None = raw-state policy
    random: bool = False  # uniform random actions (env preview, or before any policy exists)
    env_spec: str | None = None
    episodes: int = 1
    max_steps: int = 1000  # per episode
    seed: int = 0
    width: int = 480  # frames are resized to width x height in the worker
    height: int = 480
    frame_every: int = 1  # keep every k-th frame
    max_frames: int = 0  # stop after this many frames (0 = no cap)
    max_fps: float = 0.0  # keep every k-th frame so that fps / k <= max_fps (0 = every frame)
    address_space_mb: int = 8192
    cpu_seconds: int = 600
    unsafe_no_seccomp: bool = False  # the user's opt-out: run F even where seccomp cannot go up


@dataclass
class RenderSummary:
    frames: int
    episodes: int
    returns: list[float]
    steps: int
    fps: float  # playback rate of the frames sent: the env's render_fps / frame_every


class RenderError(LesrError):
    """The worker could not render (bad policy file, rejected candidate, crash, timeout)."""


# ---------------------------------------------------------------- parent side


def run_render_job(
    job: RenderJob,
    on_frame: Callable[[np.ndarray], None],
    cancel: threading.Event | None = None,
    timeout: float = 900.0,
    on_start: Callable[[float], None] | None = None,
) -> RenderSummary:
    """Run `job` in a sandboxed worker subprocess; `on_frame` receives each RGB frame (H, W, 3 uint8).

    `on_start(fps)` is called before the first frame with the env's render rate.
    """
    if job.width * job.height * 3 > MAX_FRAME_BYTES:
        raise BadInput(f"frames of {job.width}x{job.height} are too large")
    backend = detect_backend()
    env = render_env(backend)
    result: RenderSummary | None = None
    failure: str | None = None
    started = time.monotonic()
    with Worker("render", RENDER_SCHEMA, env=env) as worker:
        try:
            worker.send("render", job=dataclasses.asdict(dataclasses.replace(job, policy_path=None)))
            if job.policy_path is not None:
                worker.send_file("policy", Path(job.policy_path))  # read here; the worker sees bytes only
            worker.send("start")
        except WorkerEnded:
            pass
        except OSError as exc:
            raise RenderError(f"cannot read the policy file {job.policy_path}: {exc.strerror or exc}") from None
        worker.close_input()
        deadline = started + timeout
        while True:
            if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                worker.kill()
                break
            try:
                message = worker.next(timeout=0.1)
            except WorkerEnded:
                break
            except ProtocolError as exc:
                failure = f"the render worker broke the protocol: {exc}"
                break
            if message is None:
                continue
            if message.type == "frame":
                on_frame(_frame(message))
            elif message.type == "info":
                if on_start is not None:
                    on_start(float(message["fps"]))
            elif message.type == "done":
                result = RenderSummary(frames=message["frames"], episodes=message["episodes"],
                                       returns=[float(r) for r in message["returns"]], steps=message["steps"],
                                       fps=float(message["fps"]))
                break
            else:
                failure = one_line(message["reason"])
                break
        worker.wait(5)
        tail = next((line for line in reversed(worker.stderr_tail) if line.strip()), None)
        returncode = worker.proc.returncode
    if cancel is not None and cancel.is_set():
        raise RenderError("rendering cancelled")
    if failure is not None:
        raise RenderError(f"rendering failed: {failure}")
    if result is None:
        if time.monotonic() - started > timeout:
            raise RenderError(f"rendering timed out after {timeout:.0f}s")
        raise RenderError(f"render worker died: {tail or f'exit status {returncode}'}")
    return result


def render_env(backend: str) -> dict[str, str]:
    """The render worker's environment: the kept variables (`sandbox.environment`) and the GL backend."""
    return worker_env(defaults={"OMP_NUM_THREADS": "1"},
                      forced={"MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend, "MESA_SHADER_CACHE_DISABLE": "true"})


def _frame(message: Message) -> np.ndarray:
    height, width = message["height"], message["width"]
    if height <= 0 or width <= 0 or height * width * 3 != len(message.payload):
        raise RenderError("the render worker sent a frame whose size does not match its shape")
    return np.frombuffer(message.payload, dtype=np.uint8).reshape(height, width, 3)
