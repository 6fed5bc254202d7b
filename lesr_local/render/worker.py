"""The render worker: a subprocess that rolls out a policy and streams RGB frames back.

A candidate's `revise_state` is needed to run its policy, and generated code never runs in the engine or
UI process, so rollouts happen here, under the candidates.sandbox limits. The parent side
(`run_render_job`) starts `python -m lesr_local.render.worker` with the GL backend chosen by
`lesr_local.render.gl`, sends a `RenderJob` as JSON on stdin and reads length-prefixed messages from
stdout: INFO (JSON: fps), FRAM (height, width, RGB bytes), DONE (JSON summary) or FAIL (JSON reason). The worker moves
the protocol stream to a private descriptor first, so anything the candidate prints cannot corrupt it.
Video encoding stays in the parent (it needs the ffmpeg subprocess, which the sandbox forbids).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from lesr_local.errors import BadInput, LesrError

_HEADER = struct.Struct("<4sI")
_FRAME_SHAPE = struct.Struct("<II")


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

    backend = detect_backend()
    env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend, MESA_SHADER_CACHE_DISABLE="true")
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lesr_local.render.worker"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    stderr_tail: list[str] = []

    def drain_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            stderr_tail.append(raw.decode(errors="replace").rstrip())
            del stderr_tail[:-20]

    drainer = threading.Thread(target=drain_stderr, daemon=True)
    drainer.start()
    stop = threading.Event()

    def watchdog() -> None:
        deadline = time.monotonic() + timeout
        while not stop.wait(0.1):
            if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                proc.kill()
                return

    guard = threading.Thread(target=watchdog, daemon=True)
    guard.start()
    started = time.monotonic()
    try:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(dataclasses.asdict(job)).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        result: RenderSummary | None = None
        failure: str | None = None
        while True:
            message = _read_message(proc.stdout)
            if message is None:
                break
            kind, payload = message
            if kind == b"FRAM":
                height, width = _FRAME_SHAPE.unpack_from(payload)
                pixels = np.frombuffer(payload, dtype=np.uint8, offset=_FRAME_SHAPE.size)
                on_frame(pixels.reshape(height, width, 3))
            elif kind == b"INFO":
                if on_start is not None:
                    on_start(float(json.loads(payload)["fps"]))
            elif kind == b"DONE":
                result = RenderSummary(**json.loads(payload))
            elif kind == b"FAIL":
                failure = str(json.loads(payload)["reason"])
        proc.wait()
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        drainer.join(timeout=2)
    if cancel is not None and cancel.is_set():
        raise RenderError("rendering cancelled")
    if failure is not None:
        raise RenderError(f"rendering failed: {failure}")
    if result is None:
        if time.monotonic() - started > timeout:
            raise RenderError(f"rendering timed out after {timeout:.0f}s")
        detail = next((line for line in reversed(stderr_tail) if line.strip()), f"exit status {proc.returncode}")
        raise RenderError(f"render worker died: {detail}")
    return result


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_message(stream: IO[bytes]) -> tuple[bytes, bytes] | None:
    header = _read_exact(stream, _HEADER.size)
    if header is None:
        return None
    kind, length = _HEADER.unpack(header)
    payload = _read_exact(stream, length)
    return None if payload is None else (kind, payload)


# ---------------------------------------------------------------- worker side


def _send(stream: IO[bytes], kind: bytes, payload: bytes) -> None:
    stream.write(_HEADER.pack(kind, len(payload)))
    stream.write(payload)
    stream.flush()


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if frame.shape[1] == width and frame.shape[0] == height:
        return np.ascontiguousarray(frame, dtype=np.uint8)
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8))
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)


def _rollout(job: RenderJob, out: IO[bytes]) -> dict[str, Any]:
    from lesr_local.envs.make import make_env

    env = make_env(job.env_id, seed=job.seed, render_mode="rgb_array", env_spec=job.env_spec)
    policy = None
    if not job.random:
        if job.policy_path is None:
            raise BadInput("a policy file is needed unless random actions are asked for")
        from lesr_local.rl.policy_io import load_policy

        policy = load_policy(job.policy_path)
    observation, _ = env.reset(seed=job.seed)
    env.render()  # creates the GL context before the limits apply
    env.action_space.seed(job.seed)

    source = job.candidate_source
    if source is None and policy is not None and policy.meta.feature_dim != policy.meta.obs_dim:
        source = policy.meta.candidate_source  # the policy was trained on F(s): it needs that F
    from lesr_local.rl.features import Features

    features = Features()
    if source is not None:
        from lesr_local.candidates.sandbox import SandboxLimits, apply_limits, load_candidate

        apply_limits(_limits(SandboxLimits, job))
        features = Features(revise_state=load_candidate(source).revise_state)

    fps = float(env.metadata.get("render_fps") or 30)
    if job.max_fps > 0 and fps > job.max_fps:
        job.frame_every = max(job.frame_every, math.ceil(fps / job.max_fps))
    fps /= job.frame_every
    _send(out, b"INFO", json.dumps({"fps": fps}).encode())
    counter = {"seen": 0, "kept": 0}

    def emit(last: bool = False) -> bool:
        """Send the current frame if it is one we keep (an episode's last frame always is).

        Returns False once max_frames frames were sent.
        """
        if counter["seen"] % job.frame_every == 0 or last:
            frame = _resize(env.render(), job.width, job.height)
            _send(out, b"FRAM", _FRAME_SHAPE.pack(frame.shape[0], frame.shape[1]) + frame.tobytes())
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


def _limits(limits_cls: type, job: RenderJob) -> Any:
    """SandboxLimits for a render worker: generous memory (GL drivers map a lot), a CPU budget."""
    fields = {f.name for f in dataclasses.fields(limits_cls)}
    wanted: dict[str, Any] = {
        "address_space_mb": job.address_space_mb, "cpu_seconds": job.cpu_seconds,
        "wall_seconds": float(job.cpu_seconds),
    }
    return limits_cls(**{k: v for k, v in wanted.items() if k in fields})


def main() -> int:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        job = RenderJob(**json.loads(sys.stdin.read()))
        summary = _rollout(job, out)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent as one line
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        if isinstance(exc, LesrError):
            reason = str(exc)
        with contextlib.suppress(OSError):
            _send(out, b"FAIL", json.dumps({"reason": reason}).encode())
        return 1
    _send(out, b"DONE", json.dumps(summary).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
