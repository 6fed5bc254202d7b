"""No network, ever: lesr_local imports no network client, doctor reports access as information only,
and the audit hook used by the offline end-to-end test really sees a connection attempt."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lesr_local.network import network_access
from tests.conftest import run_lesr

REPO = Path(__file__).resolve().parent.parent
NETAUDIT = Path(__file__).resolve().parent / "netaudit"

# Modules that talk to other machines. socket itself is allowed only where a use is listed below.
NETWORK_MODULES = {"urllib", "http", "requests", "httpx", "aiohttp", "ssl", "ftplib", "smtplib", "poplib",
                   "imaplib", "xmlrpc", "websockets", "telnetlib", "socketserver", "asyncio"}
SOCKET_USES = {
    "lesr_local/llm/client.py": {"socketpair"},          # the LLM worker's AF_UNIX pair
    "lesr_local/network.py": {"if_nameindex"},           # interface names where /proc is absent
    "lesr_local/sandbox/protocol.py": {"socket"},        # wraps the LLM worker's inherited socketpair end
    # --executor ray with --ray-address HOST:PORT: is the cluster the user named reachable at all?
    "lesr_local/trainings/ray_executor.py": {"create_connection"},
    "lesr_local/llm/server.py": {"SHUT_RDWR"},           # ends a cancelled stream from a --llm-url server
    # the fork server's AF_UNIX SOCK_SEQPACKET control pair, and the pipe ends it passes (SCM_RIGHTS)
    "lesr_local/sandbox/forkserver.py": {"socketpair", "AF_UNIX", "SOCK_SEQPACKET", "send_fds", "SHUT_RDWR",
                                         "socket"},
    "lesr_local/sandbox/zygote.py": {"socket", "recv_fds"},  # its end of that pair (its stdin)
}
# Network modules a file may import: the --llm-url client (http.client, only to the address that
# llm/server_url.py accepted: loopback or a private range, given as an IP) and its URL parsing.
NETWORK_IMPORTS = {
    "lesr_local/llm/server.py": {"http"},
    "lesr_local/llm/server_url.py": {"urllib"},  # urllib.parse only: splitting the URL, no request
}

IPV4_ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""
IPV6_LINK_LOCAL_ONLY = (
    "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0\n"
    "ff000000000000000000000000000000 08 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0\n"
    "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n"
)


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_lesr_local_imports_no_network_client() -> None:
    offenders = []
    for path in sorted((REPO / "lesr_local").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        tree = ast.parse(path.read_text(), rel)
        imported = _imports(tree)
        offenders += [f"{rel}: imports {m}" for m in sorted(imported & NETWORK_MODULES - NETWORK_IMPORTS.get(rel, set()))]
        if "socket" in imported:
            uses = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                    and isinstance(n.value, ast.Name) and n.value.id == "socket"}
            extra = uses - SOCKET_USES.get(rel, set())
            if rel not in SOCKET_USES or extra:
                offenders.append(f"{rel}: socket.{', socket.'.join(sorted(extra)) or '*'}")
    assert offenders == []


def test_routing_tables_with_a_default_route_mean_network(tmp_path: Path) -> None:
    (tmp_path / "route").write_text(IPV4_ROUTES)
    (tmp_path / "ipv6_route").write_text(IPV6_LINK_LOCAL_ONLY)
    found = network_access(tmp_path)
    assert found.access is True and found.interfaces == ["eth0"] and found.default_route
    assert "eth0" in found.describe()


def test_loopback_and_link_local_routes_are_no_network(tmp_path: Path) -> None:
    (tmp_path / "route").write_text(IPV4_ROUTES.splitlines()[0] + "\n")
    (tmp_path / "ipv6_route").write_text(IPV6_LINK_LOCAL_ONLY)
    found = network_access(tmp_path)
    assert found.access is False and found.interfaces == [] and not found.default_route
    assert found.describe().startswith("no network")


def _root_with_unshare() -> str | None:
    if os.geteuid() != 0:
        return "needs root: `unshare -n` (a new network namespace) requires CAP_SYS_ADMIN"
    if shutil.which("unshare") is None:
        return "the unshare tool (util-linux) is not installed"
    return None


@pytest.mark.skipif(_root_with_unshare() is not None, reason=str(_root_with_unshare()))
def test_doctor_in_a_network_namespace_reports_no_network_and_still_passes(tmp_path: Path) -> None:
    env = {**os.environ, "LESR_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(["unshare", "-n", sys.executable, "-m", "lesr_local", "doctor", "--json", "--no-llm-run"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    report = json.loads(proc.stdout)
    network = {c["name"]: c for c in report["checks"]}["network"]
    assert network["ok"] and network["data"]["access"] is False, network
    assert network["detail"].startswith("no network")
    assert proc.returncode == (0 if report["ok"] else 1)


def test_the_audit_hook_sees_a_connection_attempt_and_ignores_local_ones(tmp_path: Path) -> None:
    log = tmp_path / "net.log"
    code = ("import socket\n"
            "a, b = socket.socketpair()\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('127.0.0.1', 9))\n"
            # UDP connect only sets the peer: no packet leaves the machine.
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('192.0.2.1', 9))\n")
    env = {**os.environ, "PYTHONPATH": str(NETAUDIT), "LESR_NET_AUDIT_LOG": str(log)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["event"] for r in records] == ["start", "socket.connect"]
    assert "192.0.2.1" in records[1]["peer"]


def test_doctor_opens_no_socket_to_another_machine(tmp_path: Path) -> None:
    log = tmp_path / "net.log"
    proc = run_lesr("doctor", "--json", "--no-llm-run", home=tmp_path / "home", timeout=300,
                    env={"PYTHONPATH": os.pathsep.join([str(NETAUDIT), str(REPO)]), "LESR_NET_AUDIT_LOG": str(log)})
    assert proc.stdout.strip(), proc.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(r["event"] == "start" for r in records)  # the hook was active
    assert [r for r in records if r["event"] != "start"] == []
