"""The trust boundary: a compromised training worker, and what code inside the sandbox can still do.

Real processes only: the engine's real `run_training` supervises a worker that speaks the protocol
maliciously, and a real sandboxed process tries each denied syscall family itself.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lesr_local.config import EvalConfig, TD3Config
from lesr_local.rl.client import run_training
from lesr_local.rl.spec import TrainSpec
from lesr_local.sandbox.protocol import MessageSpec, ProtocolError, Schema, receive, send
from lesr_local.sandbox.tensorfile import TensorFileError, pack, unpack

ROOT = Path(__file__).resolve().parents[1]
EVIL = ROOT / "tests" / "data" / "workers" / "compromised_training_worker.py"


def _spec(tmp_path: Path) -> TrainSpec:
    return TrainSpec(env_id="InvertedPendulum-v5", steps=300, learner=TD3Config(start_steps=100),
                     eval=EvalConfig(every=300, episodes=1), checkpoint_dir=tmp_path / "run" / "checkpoint",
                     policy_path=tmp_path / "run" / "policy.safetensors", threads=1)


@pytest.mark.parametrize(("mode", "expect"), [
    ("pickle", "header that is not JSON"),
    ("path", "unexpected kind"),
    ("path_field", "unexpected field 'write_to'"),
    ("oversized", "announced a 68719476736-byte payload"),
    ("malformed", "without a message type"),
    ("huge_header", "2147483648-byte header"),
    ("bad_file", "more than the announced 3 bytes"),
])
def test_compromised_worker_is_refused_and_writes_nothing(tmp_path: Path, mode: str, expect: str) -> None:
    canary = tmp_path / "outside" / "canary"
    canary.parent.mkdir()
    result = run_training(_spec(tmp_path), command=[sys.executable, str(EVIL), mode, str(canary)])
    assert result.status == "failed"
    assert result.reason is not None and result.reason.startswith("training worker broke the protocol: ")
    assert expect in result.reason, result.reason
    assert "\n" not in result.reason
    assert not canary.exists() and list(canary.parent.iterdir()) == []
    assert result.policy_path is None
    run = tmp_path / "run"
    written = [p for p in run.rglob("*") if p.is_file()] if run.exists() else []
    assert written == []  # not even a half-written checkpoint


def test_protocol_refuses_bad_fields_and_sizes(tmp_path: Path) -> None:
    schema = Schema("test worker", {"progress": MessageSpec(required={"step": (int,)}, max_payload=4)})
    path = tmp_path / "stream"
    with open(path, "wb") as fh:
        send(fh, "progress", step=3)
        send(fh, "progress", step="three")
    with open(path, "rb") as fh:
        assert receive(fh, schema).header == {"type": "progress", "step": 3}  # type: ignore[union-attr]
        with pytest.raises(ProtocolError, match="step='three'"):
            receive(fh, schema)
    with open(path, "wb") as fh:
        send(fh, "progress", b"12345", step=1)
    with open(path, "rb") as fh, pytest.raises(ProtocolError, match="announced a 5-byte payload"):
        receive(fh, schema)


def test_tensor_file_round_trip_and_refusals() -> None:
    tree = {"step": 7, "rng": {"state": 2**100}, "scalar": np.array(1.5, dtype=np.float32),
            "weights": np.arange(12, dtype=np.float32).reshape(3, 4), "curve": [(1, 2.5)]}
    data = bytearray(pack(tree).to_bytes())
    back = unpack(data)
    assert back["step"] == 7 and back["rng"]["state"] == 2**100 and back["curve"] == [[1, 2.5]]
    assert back["scalar"].shape == () and float(back["scalar"]) == 1.5
    assert np.array_equal(back["weights"], tree["weights"])
    with pytest.raises(TensorFileError):
        unpack(data[:-4])  # a truncated tensor
    with pytest.raises(TensorFileError):
        unpack(b"\xff" * 16)  # a header length past the end


PROBE = textwrap.dedent("""
    import ctypes, json, os, socket, sys
    sys.path.insert(0, {root!r})
    from lesr_local.sandbox.namespaces import enter_namespaces
    from lesr_local.sandbox.capabilities import drop_capabilities
    from lesr_local.sandbox.limits import SandboxLimits, apply_limits, record_namespaces
    record_namespaces(enter_namespaces())  # what sandbox.entry does first
    drop_capabilities()
    report = apply_limits(SandboxLimits())
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    parent = {parent}
    out = {{"walls": report.walls()}}

    def call(name, *args):
        ctypes.set_errno(0)
        result = libc.syscall(*[ctypes.c_long(a) for a in args])
        out[name] = "allowed" if result >= 0 else "denied:" + os.strerror(ctypes.get_errno())

    call("io_uring_setup", 425, 8, 0)
    call("ptrace_attach_parent", 101, 16, parent, 0, 0)
    call("process_vm_readv", 310, parent, 0, 0, 0, 0, 0)
    call("bpf", 321, 0, 0, 0)
    call("unshare", 272, 0x40000000)
    call("kill_parent", 62, parent, 0)
    call("mount", 165, 0, 0, 0, 0, 0)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect({sock!r})
        out["connect_unix"] = "allowed"
    except OSError as exc:
        out["connect_unix"] = "denied:" + os.strerror(exc.errno)
    out["socket_visible"] = os.path.exists({sock!r})
    try:
        open({target!r}, "w").write("x")
        out["write_open"] = "allowed"
    except OSError as exc:
        out["write_open"] = "denied:" + os.strerror(exc.errno)
    out["self_signal"] = os.kill(os.getpid(), 0) is None  # signals to itself still work
    print(json.dumps(out))
""")


@pytest.mark.skipif(sys.platform != "linux", reason="seccomp and namespaces are Linux features")
def test_denied_syscall_families_fail_inside_the_sandbox(tmp_path: Path) -> None:
    sock_path = tmp_path / "service.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen(1)
    target = tmp_path / "written_by_sandbox.txt"
    try:
        script = PROBE.format(root=str(ROOT), parent=os.getpid(), sock=str(sock_path), target=str(target))
        proc = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60)
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print("walls up on this machine:", ", ".join(out["walls"]))  # shown with pytest -s / on failure
    assert "seccomp" in out["walls"] and "read-only-fs" in out["walls"]
    for name in ("io_uring_setup", "ptrace_attach_parent", "process_vm_readv", "bpf", "unshare",
                 "kill_parent", "mount", "connect_unix", "write_open"):
        assert out[name].startswith("denied:"), (name, out[name])
    assert out["self_signal"] is True
    assert not target.exists()
    if "mount-namespace" in out["walls"] and "hidden:/tmp" in out["walls"] and str(tmp_path).startswith("/tmp/"):
        assert out["socket_visible"] is False  # the test's /tmp is not even visible in there
