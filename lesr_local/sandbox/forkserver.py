"""The parent's side of a fork server (`sandbox.zygote`): workers forked from a warmed process.

`launch(role, env)` hands back a `ForkedProcess` (the part of `subprocess.Popen` that `Worker`
uses) whose stdin, stdout and stderr are pipes this process made, or None where no fork server can
serve (not Linux, no pidfd, switched off with LESR_FORK_SERVER=0, or the server said it cannot):
`Worker` then starts the worker on its own, as before. One server runs per role and environment,
started on first use; its children get exactly that environment.

The server is started from a thread of its own that lives as long as the server: Linux's
parent-death signal follows the thread that forked a process, and a worker's thread ends long
before the next worker starts. That thread reads the server's replies and exit reports.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

ZYGOTE_ROLES = frozenset({"train"})  # the roles whose start is worth a server (torch: ~2.5 s each)
READY_SECONDS = 120.0  # importing the role (torch) on a loaded machine
SPAWN_SECONDS = 30.0
MAX_SERVERS = 4  # distinct environments kept warm at once; idle ones beyond are closed
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
# Ends in a comment of spaces: a child overwrites this command line with a worker's, whose parent
# pid may have more digits than ours.
_BOOTSTRAP = ("import sys; sys.path.insert(0, {root!r}); from lesr_local.sandbox.zygote import main; "
              "raise SystemExit(main(sys.argv[1:]))  # " + " " * 24)


class ForkServerError(Exception):
    """The server could not start a worker (it died or did not answer)."""


class ForkedProcess:
    """A worker forked by a fork server: pid, pipes, poll/wait/kill as `subprocess.Popen` has them."""

    def __init__(self, server: ForkServer, pid: int, stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes]) -> None:
        self.pid = pid
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.returncode: int | None = None
        self._server = server
        self._exited = threading.Event()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired(f"forked worker {self.pid}", timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            self._server.signal(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def exited(self, code: int) -> None:
        self.returncode = code
        self._exited.set()


class ForkServer:
    """One zygote process and the thread that started it and reads what it says."""

    def __init__(self, role: str, env: dict[str, str]) -> None:
        self.role, self.env = role, env
        self.refused: str | None = None  # the server said it cannot serve (for good, here)
        self.end_reason: str | None = None  # why it is gone (it may be started again)
        self._ready = threading.Event()
        self._lock = threading.Lock()  # one request at a time on the socket
        self._ids = itertools.count(1)
        self._pending: dict[int, dict[str, Any]] = {}  # request id -> its pipes, then its reply
        self._children: dict[int, ForkedProcess] = {}
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"lesr-fork-server-{role}")
        self._thread.start()

    # -- the server's thread -----------------------------------------------------------------------
    def _run(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOTSTRAP.format(root=_PACKAGE_ROOT), self.role, str(os.getpid())],
                stdin=theirs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env,
                start_new_session=True)
        except OSError as exc:
            self.refused = f"fork server did not start: {exc}"
            self._end(self.refused)
            return
        finally:
            theirs.close()
        self._sock = ours
        try:
            self._read(ours)
        finally:
            self._end(self.refused or "fork server ended")
            ours.close()
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()

    def _read(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(4096)
            except OSError:
                return
            if not data:
                return
            message = json.loads(data)
            if "ready" in message:
                self._ready.set()
            elif "unavailable" in message:
                self.refused = str(message["unavailable"])[:300]
                return
            elif "spawned" in message:
                self._spawned(message)
            elif "exited" in message:
                child = self._children.pop(message["exited"], None)
                if child is not None:
                    child.exited(int(message["code"]))

    def _spawned(self, message: dict[str, Any]) -> None:
        pending = self._pending.get(message["spawned"])
        if pending is None:
            return
        pid = int(message["pid"])
        child = ForkedProcess(self, pid, *pending["pipes"])
        self._children[pid] = child
        pending["child"] = child
        pending["done"].set()

    def _end(self, reason: str) -> None:
        self.end_reason = reason
        self._ready.set()
        for pending in list(self._pending.values()):
            pending["done"].set()
        for child in list(self._children.values()):
            child.exited(-int(signal.SIGKILL))  # they die with the server (parent-death signal)
        self._children.clear()

    # -- callers' side ---------------------------------------------------------------------------
    def ended(self) -> bool:
        return self.end_reason is not None

    def idle(self) -> bool:
        return not self._children and not self._pending

    def spawn(self) -> ForkedProcess:
        if not self._ready.wait(READY_SECONDS) or self.ended():
            raise ForkServerError(self.end_reason or "fork server not ready")
        child_in, stdin = os.pipe()
        stdout, child_out = os.pipe()
        stderr, child_err = os.pipe()
        ends = [os.fdopen(stdin, "wb"), os.fdopen(stdout, "rb"), os.fdopen(stderr, "rb")]
        request_id = next(self._ids)
        pending: dict[str, Any] = {"pipes": ends, "done": threading.Event(), "child": None}
        self._pending[request_id] = pending
        try:
            with self._lock:
                assert self._sock is not None
                socket.send_fds(self._sock, [json.dumps({"op": "spawn", "id": request_id}).encode()],
                                [child_in, child_out, child_err])
        except OSError as exc:
            self._pending.pop(request_id, None)
            for end in ends:
                end.close()
            raise ForkServerError(f"fork server gone: {exc}") from None
        finally:
            for fd in (child_in, child_out, child_err):
                os.close(fd)
        pending["done"].wait(SPAWN_SECONDS)
        self._pending.pop(request_id, None)
        if pending["child"] is None:
            for end in ends:
                end.close()
            raise ForkServerError(self.end_reason or "fork server did not answer")
        return pending["child"]  # type: ignore[no-any-return]

    def signal(self, pid: int, signum: int) -> None:
        with contextlib.suppress(OSError), self._lock:
            if self._sock is not None:
                self._sock.send(json.dumps({"op": "signal", "pid": pid, "signal": int(signum)}).encode())

    def close(self) -> None:
        """Close the socket: the server exits, and so do its children."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)


_ServerKey = tuple[str, tuple[tuple[str, str], ...]]
_servers: dict[_ServerKey, ForkServer] = {}
_refused: dict[_ServerKey, str] = {}
_servers_lock = threading.Lock()


def enabled() -> bool:
    return (sys.platform.startswith("linux") and hasattr(os, "pidfd_open")
            and os.environ.get("LESR_FORK_SERVER", "1") != "0")


def launch(role: str, env: dict[str, str]) -> ForkedProcess | None:
    """A worker of `role` forked by the server for `env`, or None (start it on its own instead)."""
    if role not in ZYGOTE_ROLES or not enabled():
        return None
    key = (role, tuple(sorted(env.items())))
    with _servers_lock:
        if key in _refused:
            return None
        server = _servers.get(key)
        if server is None or server.ended():
            _close_idle(keep=MAX_SERVERS - 1)
            server = _servers[key] = ForkServer(role, env)
    try:
        return server.spawn()
    except ForkServerError:
        if server.refused is not None:
            _refused[key] = server.refused  # it said it cannot serve here: never start it again
        return None


def _close_idle(keep: int) -> None:
    for key in [k for k, s in _servers.items() if s.idle() or s.ended()][: max(0, len(_servers) - keep)]:
        _servers.pop(key).close()
