"""Offscreen OpenGL backend detection for MuJoCo.

MuJoCo picks its GL backend from MUJOCO_GL when it is first imported, so a backend cannot be switched
inside one process. We therefore probe each candidate backend in a short-lived subprocess (EGL first,
then OSMesa) and remember the first that renders a frame. Render workers are started with that value.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from lesr_local.errors import BadInput

BACKENDS: tuple[str, ...] = ("egl", "osmesa")

_PROBE = """
import mujoco
model = mujoco.MjModel.from_xml_string(
    "<mujoco><worldbody><light pos='0 0 1'/><geom type='sphere' size='.1'/></worldbody></mujoco>")
data = mujoco.MjData(model)
renderer = mujoco.Renderer(model, 16, 16)
mujoco.mj_forward(model, data)
renderer.update_scene(data)
pixels = renderer.render()
renderer.close()
assert pixels.shape == (16, 16, 3)
print("ok")
"""

_lock = threading.Lock()
_cached: str | None = None


def probe_backend(backend: str, timeout: float = 60.0) -> str | None:
    """Render one tiny frame with MUJOCO_GL=backend in a subprocess; None if it works, else why not."""
    env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=timeout, env=env,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f}s"
    except OSError as exc:
        return f"cannot start python: {exc}"
    if proc.returncode == 0 and proc.stdout.strip().endswith("ok"):
        return None
    lines = [line.strip() for line in proc.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {proc.returncode}"


def candidate_backends() -> list[str]:
    """The order to try: a MUJOCO_GL the user set (if offscreen-capable) first, then EGL, then OSMesa."""
    order = list(BACKENDS)
    preferred = os.environ.get("MUJOCO_GL", "").strip().lower()
    if preferred in order:
        order.remove(preferred)
        order.insert(0, preferred)
    return order


def detect_backend(refresh: bool = False) -> str:
    """The first offscreen backend that renders; BadInput (one line) when none does. Cached per process."""
    global _cached
    with _lock:
        if _cached is not None and not refresh:
            return _cached
        reasons: list[str] = []
        for backend in candidate_backends():
            reason = probe_backend(backend)
            if reason is None:
                _cached = backend
                return backend
            reasons.append(f"{backend}: {reason}")
        raise BadInput(f"offscreen MuJoCo rendering unavailable: {'; '.join(reasons)}")


def backend_status() -> dict[str, str | None]:
    """Every backend's probe result (None = works), for `lesr doctor`."""
    return {backend: probe_backend(backend) for backend in BACKENDS}
