"""A real Ray cluster for tests: a head and more nodes, each a `ray start --block` process on
127.0.0.1 with its own CPUs, ports and temporary folder, all torn down by process tree.

The cluster is self-contained: it runs with token authentication on (as a cluster started by hand
with `ray start` does) and a token it generates in its own folder, which every node gets through
RAY_AUTH_TOKEN_PATH. Its nodes run with HOME set to that folder, so nothing reads or writes the
user's ~/.ray. Drivers get the token path but not the auth mode: lesr-local must see the token
and switch token mode on by itself, as it must for a user's cluster."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
AGENTS = {"ray::DashboardAgent", "ray::RuntimeEnvAgent"}  # node services, not workers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RayNode:
    proc: subprocess.Popen[bytes]
    temp_dir: Path
    cpus: int

    def processes(self) -> list[psutil.Process]:
        """This node's `ray start` process and everything under it (raylet, workers, their children)."""
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def ray_workers(self) -> list[psutil.Process]:
        """The node's Ray worker processes (`ray::IDLE`, `ray::<task>`; not the node's own agents)."""
        found = []
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                title = " ".join(proc.cmdline())
                if title.startswith("ray::") and title.split()[0] not in AGENTS:
                    found.append(proc)
        return found


@dataclass
class RayCluster:
    nodes: list[RayNode] = field(default_factory=list)
    address: str = ""
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lray-auth", dir="/tmp")))

    def __post_init__(self) -> None:
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))

    @property
    def token_file(self) -> Path:
        return self.folder / "auth_token"

    def env(self) -> dict[str, str]:
        """A driver's environment: the cluster's token path, and no auth mode (lesr-local decides it)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
        return dict(base, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0", MUJOCO_GL="egl",
                    RAY_AUTH_TOKEN_PATH=str(self.token_file))

    def node_env(self) -> dict[str, str]:
        """A node's environment: token mode on, the cluster's token, a HOME of its own."""
        return dict(self.env(), RAY_AUTH_MODE="token", HOME=str(self.folder))

    def start_head(self, cpus: int) -> RayNode:
        port = free_port()
        self.address = f"127.0.0.2:{port}"  # Ray would replace 127.0.0.1 by the machine's routable IP
        return self._start(cpus, "127.0.0.2", ["--head", "--port", str(port), "--include-dashboard=false"])

    def add_node(self, cpus: int) -> RayNode:
        return self._start(cpus, f"127.0.0.{2 + len(self.nodes)}", ["--address", self.address])

    def _start(self, cpus: int, ip: str, role: list[str]) -> RayNode:
        temp_dir = Path(tempfile.mkdtemp(prefix="lray", dir="/tmp"))  # short: Ray puts sockets in it
        command = [RAY, "start", *role, "--block", "--num-cpus", str(cpus), "--node-ip-address", ip,
                   "--temp-dir", str(temp_dir), "--disable-usage-stats", "--object-store-memory", str(200 * 2**20),
                   "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
                   "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port())]
        log = open(temp_dir / "start.log", "wb")  # noqa: SIM115 - the node keeps writing to it
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.node_env(),
                                start_new_session=True)
        node = RayNode(proc, temp_dir, cpus)
        self.nodes.append(node)
        return node

    def wait_ready(self, timeout: float = 120) -> None:
        """Until every node has joined with its CPUs (asked from a separate plain-Ray driver process,
        which needs the auth mode spelled out)."""
        want_nodes, want_cpus = len(self.nodes), sum(n.cpus for n in self.nodes)
        probe = ("import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False);"
                 "nodes=[n for n in ray.nodes() if n['Alive']];"
                 "print(len(nodes), int(sum(n['Resources'].get('CPU',0) for n in nodes)))")
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            logs = [(node.temp_dir / "start.log").read_bytes().decode("utf-8", "replace") for node in self.nodes]
            for node, log in zip(self.nodes, logs, strict=True):
                if node.proc.poll() is not None:
                    raise RuntimeError(f"ray node exited: {log[-2000:]}")
            if not all("Ray runtime started" in log for log in logs):
                time.sleep(0.5)
                continue
            out = subprocess.run([sys.executable, "-c", probe, self.address], capture_output=True, text=True,
                                 env=self.node_env(), timeout=120)
            last = out.stdout.strip() or out.stderr[-500:]
            if out.stdout.split() == [str(want_nodes), str(want_cpus)]:
                return
            time.sleep(1)
        raise RuntimeError(f"ray cluster not ready: {last}")

    def free_cpus(self) -> float:
        """CPUs no task holds right now (asked from a separate driver process)."""
        probe = ("import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False);"
                 "print(ray.available_resources().get('CPU', 0))")
        out = subprocess.run([sys.executable, "-c", probe, self.address], capture_output=True, text=True,
                             env=self.node_env(), timeout=120)
        return float(out.stdout.split()[-1])

    def stop(self) -> None:
        """SIGKILL every node's process tree and session, then remove their folders."""
        for node in reversed(self.nodes):
            for proc in node.processes():
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(node.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(10)
            shutil.rmtree(node.temp_dir, ignore_errors=True)
        self.nodes.clear()
        shutil.rmtree(self.folder, ignore_errors=True)
