"""The render worker: a subprocess that rolls out a policy and streams RGB frames back.

A candidate's `revise_state` is needed to run its policy, and generated code never runs in the engine or
UI process, so rollouts happen here, inside the sandbox. The parent side (`run_render_job`) starts
`sandbox.entry render` with the GL backend chosen by `lesr_local.render.gl`, sends a `render` message
(the RenderJob as JSON) and streams the policy file to it (the worker is given bytes, never a path),
then reads `info` (fps), `frame` (height, width; RGB bytes as payload), and `done` or `failed`,
each validated against RENDER_SCHEMA. Video encoding stays in the parent (it needs the ffmpeg
subprocess, which the sandbox forbids).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np

from lesr_local.errors import BadInput, LesrError, describe_exception, one_line
from lesr_local.sandbox import protocol
from lesr_local.sandbox.limits import SandboxLimits, apply_limits
from lesr_local.sandbox.protocol import DICT, INT, LIST, NUM, STR, Message, MessageSpec, ProtocolError, Schema
from lesr_local.sandbox.supervisor import FILE_MESSAGES, Worker, WorkerEnded, receive_file

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
    from lesr_local.render.gl import detect_backend

    if job.width * job.height * 3 > MAX_FRAME_BYTES:
        raise BadInput(f"frames of {job.width}x{job.height} are too large")
    backend = detect_backend()
    env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend, MESA_SHADER_CACHE_DISABLE="true")
    env.setdefault("OMP_NUM_THREADS", "1")
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


def _frame(message: Message) -> np.ndarray:
    height, width = message["height"], message["width"]
    if height <= 0 or width <= 0 or height * width * 3 != len(message.payload):
        raise RenderError("the render worker sent a frame whose size does not match its shape")
    return np.frombuffer(message.payload, dtype=np.uint8).reshape(height, width, 3)


# ---------------------------------------------------------------- worker side


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if frame.shape[1] == width and frame.shape[0] == height:
        return np.ascontiguousarray(frame, dtype=np.uint8)
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8))
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)


def _rollout(job: RenderJob, policy_bytes: bytearray | None, out: IO[bytes]) -> dict[str, Any]:
    from lesr_local.envs.make import make_env

    env = make_env(job.env_id, seed=job.seed, render_mode="rgb_array", env_spec=job.env_spec)
    policy = None
    if not job.random:
        if policy_bytes is None:
            raise BadInput("a policy file is needed unless random actions are asked for")
        from lesr_local.rl.policy_io import load_policy

        policy = load_policy(policy_bytes)
    observation, _ = env.reset(seed=job.seed)
    env.render()  # creates the GL context before the limits apply
    env.action_space.seed(job.seed)

    source = job.candidate_source
    if source is None and policy is not None and policy.meta.feature_dim != policy.meta.obs_dim:
        source = policy.meta.candidate_source  # the policy was trained on F(s): it needs that F
    from lesr_local.rl.features import Features

    features = Features()
    if source is not None:
        from lesr_local.sandbox.restricted import load_candidate

        apply_limits(SandboxLimits(address_space_mb=job.address_space_mb, cpu_seconds=job.cpu_seconds,
                                   wall_seconds=float(job.cpu_seconds)))
        features = Features(revise_state=load_candidate(source).revise_state)

    fps = float(env.metadata.get("render_fps") or 30)
    if job.max_fps > 0 and fps > job.max_fps:
        job.frame_every = max(job.frame_every, math.ceil(fps / job.max_fps))
    fps /= job.frame_every
    protocol.send(out, "info", fps=fps)
    counter = {"seen": 0, "kept": 0}

    def emit(last: bool = False) -> bool:
        """Send the current frame if it is one we keep (an episode's last frame always is).

        Returns False once max_frames frames were sent.
        """
        if counter["seen"] % job.frame_every == 0 or last:
            frame = _resize(env.render(), job.width, job.height)
            protocol.send(out, "frame", memoryview(frame).cast("B"), height=frame.shape[0], width=frame.shape[1])
            counter["kept"] += 1
        counter["seen"] += 1
        return not (job.max_frames and counter["kept"] >= job.max_frames)

    steps = 0
    returns: list[float] = []
    going = True
    for episode in range(job.episodes):
        if episode:
            observation, _ = env.reset(seed=job.seed + episode)
        total = 0.0
        going = emit()
        for step in range(job.max_steps):
            if not going:
                break
            if policy is None:
                action = env.action_space.sample()
            else:
                action = policy.act(features.transform(observation, f"at step {steps}"))
            observation, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            steps += 1
            ending = terminated or truncated or step == job.max_steps - 1
            going = emit(last=ending)
            if terminated or truncated:
                break
        returns.append(total)
        if not going:
            break
    env.close()
    return {"frames": counter["kept"], "episodes": len(returns), "returns": returns, "steps": steps, "fps": fps}


def serve_stream(stdin: BinaryIO, out: IO[bytes]) -> int:
    """The render worker (started by `sandbox.entry render`)."""
    try:
        request = protocol.receive(stdin, JOB_SCHEMA)
        if request is None or request.type != "render":
            raise ProtocolError("expected a render job")
        job = RenderJob(**request["job"])
        policy_bytes = None
        message = protocol.receive(stdin, JOB_SCHEMA)
        if message is not None and message.type == "file_begin":
            policy_bytes = receive_file(stdin, JOB_SCHEMA, message)
            message = protocol.receive(stdin, JOB_SCHEMA)
        summary = _rollout(job, policy_bytes, out)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent as one line
        reason = str(exc) if isinstance(exc, LesrError) else describe_exception(exc, 1000)
        with contextlib.suppress(OSError):
            protocol.send(out, "failed", reason=reason[:1000])
        return 1
    protocol.send(out, "done", **summary)
    return 0
