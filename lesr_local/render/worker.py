"""The render worker's body, started by `sandbox.entry render`: build the env with a GL context,
load the policy from the bytes the parent streamed, put up the limits, load the candidate's F through
the restricted loader, roll out, and send every kept frame back as raw RGB.

Only the worker imports this module (MuJoCo, torch and Pillow load here); the parent side is
`render/client.py`.
"""

from __future__ import annotations

import contextlib
import math
from typing import IO, Any, BinaryIO

import numpy as np
from PIL import Image

from lesr_local.envs.make import make_env
from lesr_local.errors import BadInput, LesrError, describe_exception
from lesr_local.render.client import JOB_SCHEMA, RenderJob
from lesr_local.rl.features import Features
from lesr_local.rl.policy_io import load_policy
from lesr_local.sandbox import protocol
from lesr_local.sandbox.limits import SandboxLimits, apply_limits
from lesr_local.sandbox.protocol import ProtocolError
from lesr_local.sandbox.restricted import load_candidate
from lesr_local.sandbox.supervisor import receive_file


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if frame.shape[1] == width and frame.shape[0] == height:
        return np.ascontiguousarray(frame, dtype=np.uint8)
    image = Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8))
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)


def _rollout(job: RenderJob, policy_bytes: bytearray | None, out: IO[bytes]) -> dict[str, Any]:
    env = make_env(job.env_id, seed=job.seed, render_mode="rgb_array", env_spec=job.env_spec)
    policy = None
    if not job.random:
        if policy_bytes is None:
            raise BadInput("a policy file is needed unless random actions are asked for")
        policy = load_policy(policy_bytes)
    observation, _ = env.reset(seed=job.seed)
    env.render()  # creates the GL context before the limits apply
    env.action_space.seed(job.seed)

    source = job.candidate_source
    if source is None and policy is not None and policy.meta.feature_dim != policy.meta.obs_dim:
        source = policy.meta.candidate_source  # the policy was trained on F(s): it needs that F
    features = Features()
    if source is not None:
        apply_limits(SandboxLimits(address_space_mb=job.address_space_mb, cpu_seconds=job.cpu_seconds,
                                   wall_seconds=float(job.cpu_seconds), unsafe_no_seccomp=job.unsafe_no_seccomp))
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
