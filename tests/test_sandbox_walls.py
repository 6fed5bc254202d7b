"""Walls between a worker and the rest of the machine, each tried by a real sandboxed process:
rlimits of other processes (prlimit64), SysV IPC objects that would outlive the worker, the
environment a worker inherits, and what a flood on its stderr costs the parent.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="seccomp and namespaces are Linux features")

# What sandbox.entry does first, then the walls a check worker gets.
SANDBOXED = """
import ctypes, json, os, resource, sys
sys.path.insert(0, {root!r})
from lesr_local.sandbox.capabilities import drop_capabilities
from lesr_local.sandbox.limits import SandboxLimits, apply_limits, record_namespaces
from lesr_local.sandbox.namespaces import enter_namespaces
record_namespaces(enter_namespaces())
drop_capabilities()
report = apply_limits(SandboxLimits()) if {seccomp!r} else None
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {{"walls": report.walls() if report else []}}

def call(name, *args):
    ctypes.set_errno(0)
    result = libc.syscall(*[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    out[name] = "allowed" if result >= 0 else "denied:" + os.strerror(ctypes.get_errno())
    return result
"""


def _run_sandboxed(body: str, *, seccomp: bool = True) -> dict:
    script = SANDBOXED.format(root=str(ROOT), seccomp=seccomp) + textwrap.dedent(body) + "\nprint(json.dumps(out))\n"
    proc = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


class _RLimit(ctypes.Structure):
    _fields_ = [("soft", ctypes.c_ulong), ("hard", ctypes.c_ulong)]


@linux_only
def test_worker_cannot_change_its_parents_rlimits() -> None:
    """No PID namespace: without the seccomp rule, prlimit64(parent, ...) rewrites the engine's (or a
    Ray raylet's) limits for good. Its own limits (pid 0 or its pid) stay adjustable."""
    which = resource.RLIMIT_CORE
    soft, hard = resource.getrlimit(which)
    if soft == hard == 0:
        which = resource.RLIMIT_NOFILE
        soft, hard = resource.getrlimit(which)
    wanted = hard if soft != hard else max(0, soft - 1)  # any other value the parent's hard limit allows
    assert wanted != soft
    body = f"""
    import resource
    new = (ctypes.c_ulong * 2)({wanted}, {hard})
    call("prlimit_parent", 302, {os.getpid()}, {int(which)}, ctypes.byref(new), None)
    old = (ctypes.c_ulong * 2)()
    call("prlimit_parent_read", 302, {os.getpid()}, {int(which)}, None, ctypes.byref(old))
    call("prlimit_self_zero", 302, 0, {int(resource.RLIMIT_CORE)}, None, ctypes.byref(old))
    call("prlimit_self_pid", 302, os.getpid(), {int(resource.RLIMIT_CORE)}, None, ctypes.byref(old))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    out["setrlimit_self"] = resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)
    """
    try:
        out = _run_sandboxed(body)
        assert resource.getrlimit(which) == (soft, hard)  # the parent's limit is what it was
    finally:
        resource.setrlimit(which, (soft, hard))  # the code before the fix changed it
    assert "seccomp" in out["walls"]
    assert out["prlimit_parent"] == "denied:Operation not permitted"
    assert out["prlimit_parent_read"].startswith("denied:")
    assert out["prlimit_self_zero"] == "allowed" and out["prlimit_self_pid"] == "allowed"
    assert out["setrlimit_self"] is True


def _ipc_objects_with_key(key: int) -> list[tuple[str, int]]:
    """(kind, id) of the SysV objects with `key` in this (the test's) IPC namespace."""
    found = []
    for kind in ("shm", "sem", "msg"):
        lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        found += [(kind, int(line.split()[1])) for line in lines if int(line.split()[0]) == key]
    return found


def _remove_ipc_objects(key: int) -> None:
    """Clean up after the code before the fix, which let these outlive the worker."""
    libc = ctypes.CDLL(None, use_errno=True)
    for kind, ident in _ipc_objects_with_key(key):
        if kind == "shm":
            libc.shmctl(ident, 0, None)  # IPC_RMID
        elif kind == "sem":
            libc.semctl(ident, 0, 0)
        else:
            libc.msgctl(ident, 0, None)


SHMGET = """
key = {key}
shmid = call("shmget", 29, key, 4096, 0o1000 | 0o600)  # IPC_CREAT
call("semget", 64, key, 1, 0o1000 | 0o600)
call("msgget", 68, key, 0o1000 | 0o600)
out["ipc_namespace"] = "ipc-namespace" in out["walls"]
"""


@linux_only
def test_worker_cannot_leave_sysv_shared_memory_behind() -> None:
    key = 0x1E500000 + os.getpid() % 0xFFFF
    try:
        out = _run_sandboxed(SHMGET.format(key=key))
        assert _ipc_objects_with_key(key) == []
    finally:
        _remove_ipc_objects(key)
    assert out["shmget"].startswith("denied:") and out["semget"].startswith("denied:")
    assert out["msgget"].startswith("denied:")
    if os.geteuid() == 0 or Path("/proc/self/ns/user").exists():
        assert out["ipc_namespace"] is True


@linux_only
def test_ipc_namespace_alone_keeps_segments_inside() -> None:
    """The namespace without seccomp (the opt-out): a segment made inside dies with the worker."""
    key = 0x1E510000 + os.getpid() % 0xFFFF
    try:
        out = _run_sandboxed(SHMGET.format(key=key), seccomp=False)
        assert out["shmget"] == "allowed"  # no seccomp here: the namespace alone must hold it
        assert _ipc_objects_with_key(key) == []
    finally:
        _remove_ipc_objects(key)


FLOOD_PARENT = """
import json, resource, sys, threading, time
sys.path.insert(0, {root!r})
from lesr_local.sandbox.protocol import Schema
from lesr_local.sandbox.supervisor import Worker
errors = []
threading.excepthook = lambda args: errors.append(f"{{args.exc_type.__name__}}: {{args.exc_value}}")
child = {child!r}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
worker = Worker("test", Schema("test worker", {{}}), command=[sys.executable, "-c", child])
if {wait_for_end!r}:
    worker.wait(120)
else:
    time.sleep(1.0)  # the child is still writing when the parent gives up on it
reason = worker.death_reason("flooding worker")
worker.close()
time.sleep(0.2)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"growth_mb": (after - before) / 1024, "tail": worker.stderr_tail, "reason": reason,
                  "errors": errors, "drainer_alive": worker._drainer.is_alive()}}))
"""
FLOOD = ("import os\nchunk = b'x' * 2**20\nfor _ in range(300):\n    os.write(2, chunk)\n"
         "os.write(2, b'\\nlast words\\n')\n")
ENDLESS = "import os\nchunk = b'y' * 65536\nwhile True:\n    os.write(2, chunk)\n"


def _flood(child: str, wait_for_end: bool) -> dict:
    script = FLOOD_PARENT.format(root=str(ROOT), child=child, wait_for_end=wait_for_end)
    proc = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_stderr_flood_without_newlines_costs_the_parent_little() -> None:
    out = _flood(FLOOD, wait_for_end=True)
    assert out["growth_mb"] < 64, out["growth_mb"]  # 300 MB went through; the code before kept it all
    assert out["tail"][-1] == "last words" and out["tail"][0].startswith("x" * 100)
    assert max(len(line) for line in out["tail"]) <= 301
    assert out["reason"] == "flooding worker exited with code 0: last words"
    assert out["errors"] == [] and out["drainer_alive"] is False


def test_closing_a_worker_mid_flood_leaves_the_drainer_unharmed() -> None:
    out = _flood(ENDLESS, wait_for_end=False)
    assert out["errors"] == [], out["errors"]
    assert out["drainer_alive"] is False
    assert out["growth_mb"] < 64


SECRETS = {"LESR_TEST_API_TOKEN": "tok-3f9a", "AWS_SECRET_ACCESS_KEY": "aws-77c1", "RAY_AUTH_TOKEN": "ray-5d20"}


def _environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def _assert_scrubbed(environ: dict[str, str]) -> None:
    for name, value in SECRETS.items():
        assert name not in environ
        assert value not in "".join(environ.values())
    assert environ["OMP_PROC_BIND"] == "false"  # thread settings are kept
    assert environ["MUJOCO_GL"] == "egl" and "PATH" in environ


@linux_only
def test_training_worker_environment_holds_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from lesr_local.config import EvalConfig, TD3Config
    from lesr_local.rl.client import run_training
    from lesr_local.rl.spec import TrainSpec

    for name, value in {**SECRETS, "OMP_PROC_BIND": "false", "MUJOCO_GL": "egl"}.items():
        monkeypatch.setenv(name, value)
    seen: list[dict[str, str]] = []
    cancel = threading.Event()

    def on_pid(pid: int) -> None:  # called once the worker process exists (after its exec)
        seen.append(_environ_of(pid))
        cancel.set()

    spec = TrainSpec(env_id="InvertedPendulum-v5", steps=200, learner=TD3Config(start_steps=100),
                     eval=EvalConfig(every=200, episodes=1), threads=1)
    result = run_training(spec, cancel=cancel, on_pid=on_pid)
    assert result.status == "cancelled"
    _assert_scrubbed(seen[0])


@linux_only
def test_relayed_training_worker_environment_holds_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Ray path: a node's relay (whose environment holds the cluster token) starts the worker."""
    import io

    from lesr_local.rl.relay import RELAY_SCHEMA, RelayJob, relay_training
    from lesr_local.rl.spec import TrainSpec
    from lesr_local.sandbox.protocol import receive

    for name, value in {**SECRETS, "OMP_PROC_BIND": "false", "MUJOCO_GL": "egl"}.items():
        monkeypatch.setenv(name, value)
    frames = relay_training(RelayJob.of(TrainSpec(env_id="InvertedPendulum-v5", steps=200, threads=1), None),
                            node="test-node", host="test-host")
    try:
        placed = receive(io.BytesIO(next(frames)), RELAY_SCHEMA)
        assert placed is not None and placed.type == "placed"
        _assert_scrubbed(_environ_of(placed["pid"]))
    finally:
        frames.close()  # kills the worker


def test_render_and_check_workers_get_the_same_scrubbed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from lesr_local.render.client import render_env
    from lesr_local.sandbox.environment import worker_env

    for name, value in {**SECRETS, "OMP_PROC_BIND": "false", "LD_LIBRARY_PATH": "/opt/gl"}.items():
        monkeypatch.setenv(name, value)
    env = render_env("egl")
    assert env["MUJOCO_GL"] == env["PYOPENGL_PLATFORM"] == "egl" and env["LD_LIBRARY_PATH"] == "/opt/gl"
    assert not set(SECRETS) & set(env)
    assert not set(SECRETS) & set(worker_env(forced={"OMP_NUM_THREADS": "1"}))
