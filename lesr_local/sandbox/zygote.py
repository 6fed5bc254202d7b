"""The fork server's own process: import a worker role's module once, then fork a worker per request.

A training worker spends ~2.5 s of CPU importing torch before it does anything; a child forked from
a process that already imported it starts in milliseconds. This process runs only lesr-local's code
and never candidate code: it imports the role, checks that it is still single-threaded (a fork
copies one thread; a user namespace needs a single-threaded caller), says "ready" and then serves
requests from its parent on the socket that is its stdin (`sandbox.forkserver` is the other side).

Per request the child is forked with the three pipe ends the parent sent (its stdin, stdout and
stderr). Before it does anything else the child starts its own session, closes every other file
descriptor (the control socket, its siblings' pidfds: nothing of the server survives in it), takes
the command line a worker started on its own would have, and then goes through the same
`entry.become_worker` steps: new namespaces, no capabilities, death with its parent, then the role,
which puts up the rlimits and seccomp before it loads candidate code.

The server reaps its children through pidfds and reports each exit code; it signals a child only
while it has not reaped it, so a signal never reaches a recycled pid. It dies with its parent and
exits when the control socket closes; its children die with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from lesr_local.procs import die_with_parent
from lesr_local.sandbox.entry import ROLES, Serve, become_worker, role_function
from lesr_local.sandbox.supervisor import worker_command

REQUEST_BYTES = 4096
ALLOWED_SIGNALS = (signal.SIGKILL, signal.SIGTERM)


def thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0  # unknown: treated as not single-threaded


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ROLES or not argv[1].isdigit():
        print(f"usage: zygote {{{'|'.join(ROLES)}}} PARENT_PID", file=sys.stderr)
        return 2
    role, parent_pid = argv[0], int(argv[1])
    die_with_parent(parent_pid)
    control = socket.socket(fileno=0)
    try:
        serve = role_function(role)
    except Exception as exc:  # noqa: BLE001 - the parent falls back to starting workers on their own
        _send(control, {"unavailable": f"importing the {role} role failed: {exc}"[:300]})
        return 1
    threads = thread_count()
    if threads != 1:
        _send(control, {"unavailable": f"{threads} threads after importing the {role} role (a fork needs one)"})
        return 1
    _send(control, {"ready": True})
    return _serve(control, role, serve)


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.send(json.dumps(message).encode())


def _serve(control: socket.socket, role: str, serve: Serve) -> int:
    children: dict[int, int] = {}  # pidfd -> pid, for children not reaped yet
    while True:
        readable, _, _ = select.select([control, *children], [], [])
        for ready in readable:
            if ready is control:
                if not _handle_request(control, children, role, serve):
                    return 0
            else:
                _reap(control, children, ready)


def _handle_request(control: socket.socket, children: dict[int, int], role: str, serve: Serve) -> bool:
    try:
        data, fds, _, _ = socket.recv_fds(control, REQUEST_BYTES, 3)
    except OSError:
        return False
    if not data:
        for fd in fds:
            os.close(fd)
        return False  # the parent closed the socket (or died)
    try:
        request = json.loads(data)
    except ValueError:
        request = {}
    op = request.get("op") if isinstance(request, dict) else None
    if op == "spawn" and len(fds) == 3:
        server_pid = os.getpid()
        titled, titled_w = os.pipe()  # the child closes it once it has a worker's command line
        pid = os.fork()
        if pid == 0:
            _child(control, fds, role, serve, server_pid)  # never returns
        os.close(titled_w)
        os.read(titled, 1)  # so whoever gets the pid sees the worker's command line
        os.close(titled)
        for fd in fds:
            os.close(fd)
        children[os.pidfd_open(pid)] = pid
        _send(control, {"spawned": request.get("id"), "pid": pid})
        return True
    for fd in fds:
        os.close(fd)
    if op == "signal":
        pid, signum = request.get("pid"), request.get("signal")
        if pid in children.values() and signum in ALLOWED_SIGNALS:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signum)  # the child leads its own session: this reaches all of it
    return True


def _reap(control: socket.socket, children: dict[int, int], pidfd: int) -> None:
    pid = children.pop(pidfd)
    os.close(pidfd)
    try:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        code = -int(signal.SIGKILL)
    with contextlib.suppress(OSError):
        _send(control, {"exited": pid, "code": code})


def _child(control: socket.socket, fds: list[int], role: str, serve: Serve, server_pid: int) -> None:
    code = 1
    try:
        retitle(worker_command(role, parent_pid=server_pid))
        os.setsid()
        control.detach()  # its fd (0) is replaced below; the object must not close a reused number
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        # Everything else goes, the server's end of the title pipe and the siblings' pidfds with it.
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        code = become_worker(role, server_pid, lambda: serve)
    except BaseException:  # noqa: BLE001 - reported on the worker's stderr, which the parent reads
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def retitle(argv: list[str]) -> bool:
    """Overwrite this process's command line in place (what `ps` and /proc/PID/cmdline show), as a
    worker started on its own would have it; False (and unchanged) when it does not fit."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48 and 49)
    except (OSError, IndexError, ValueError):
        return False
    title = b"\0".join(a.encode() for a in argv) + b"\0"
    if not 0 < len(title) <= end - start:
        return False
    ctypes.memmove(start, title.ljust(end - start, b"\0"), end - start)
    return True


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
