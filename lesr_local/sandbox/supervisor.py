"""The parent's side of a worker that runs candidate code: spawn it, talk to it, receive its files.

`Worker` starts `sandbox.entry` with a role in a new session, reads the worker's frames on a thread
(each validated against the role's schema; the first bad frame kills the worker), keeps the last
lines of its stderr (in bounded chunks: a worker that floods its stderr without a newline costs the
parent a few kilobytes, not the flood), and can stream a file to it. `FileReceiver` writes the files a worker streams
back (checkpoints, policies) only at the paths the parent chose for that job, through a temporary
file, a size cap and a sha256 check, then an atomic rename. A worker names a file by its kind
("checkpoint", "policy"), never by a path.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from lesr_local.sandbox import forkserver, protocol
from lesr_local.sandbox.protocol import INT, STR, Message, MessageSpec, ProtocolError, Schema

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BOOTSTRAP = ("import sys; sys.path.insert(0, {root!r}); from lesr_local.sandbox.entry import main; "
              "raise SystemExit(main(sys.argv[1:]))")

# Messages that carry a file, in either direction.
FILE_MESSAGES = {
    "file_begin": MessageSpec(required={"file": STR, "size": INT}),
    "file_chunk": MessageSpec(max_payload=protocol.CHUNK_BYTES),
    "file_end": MessageSpec(required={"sha256": STR}),
}


def worker_command(role: str, parent_pid: int | None = None) -> list[str]:
    """`python -I` (no user site, no cwd on the path) with the package root put back explicitly."""
    return [sys.executable, "-I", "-c", _BOOTSTRAP.format(root=_PACKAGE_ROOT), role,
            str(os.getpid() if parent_pid is None else parent_pid)]


class WorkerEnded(Exception):
    """The worker's stream ended (it exited or was killed)."""


@dataclass
class _Failure:
    error: ProtocolError


_END = object()
STDERR_LINES = 20  # lines of a worker's stderr kept for its death reason
STDERR_LINE_CHARS = 300  # each cut to this many characters
_LINE_BYTES = 4 * STDERR_LINE_CHARS  # bytes of one line kept while it is still unterminated
_READ_BYTES = 65536
_AFTER_STOP_READS = 16  # reads still taken once the worker is gone (a descendant may hold the pipe)


class Worker:
    """One worker process speaking the protocol on its stdin/stdout."""

    def __init__(self, role: str, schema: Schema, *, env: dict[str, str] | None = None,
                 cwd: str | None = None, command: list[str] | None = None, forked: bool = False) -> None:
        """`forked`: fork it from the role's fork server where one can serve (`env` given, no `cwd`
        or `command`), else start it on its own."""
        self.schema = schema
        forked_proc = forkserver.launch(role, env) if forked and env is not None and cwd is None \
            and command is None else None
        self.proc: subprocess.Popen[bytes] | forkserver.ForkedProcess = forked_proc or subprocess.Popen(
            command or worker_command(role), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, cwd=cwd, start_new_session=True,
        )
        self.pid = self.proc.pid
        self.stderr_tail: list[str] = []
        self._line = bytearray()  # the unterminated line of stderr so far (its head, at most _LINE_BYTES)
        self._stderr_done = threading.Event()  # set once the worker was reaped: stop reading soon
        # A few messages only: file chunks are 4 MiB each, and a slow disk must slow the worker down
        # rather than pile a checkpoint up in this process.
        self._messages: queue.Queue[object] = queue.Queue(maxsize=4)
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"lesr-{role}-reader")
        self._drainer = threading.Thread(target=self._drain, daemon=True, name=f"lesr-{role}-stderr")
        self._reader.start()
        self._drainer.start()

    # -- parent -> worker -----------------------------------------------------------------------
    def send(self, type_: str, payload: bytes | memoryview = b"", **fields: object) -> None:
        assert self.proc.stdin is not None
        try:
            protocol.send(self.proc.stdin, type_, payload, **fields)
        except (BrokenPipeError, OSError):
            raise WorkerEnded("worker closed its input") from None

    def send_file(self, kind: str, path: Path) -> None:
        """Stream the file at `path` (chosen by the parent) to the worker in chunks."""
        assert self.proc.stdin is not None
        with open(path, "rb") as fh:
            chunks = iter(lambda: fh.read(protocol.CHUNK_BYTES), b"")
            try:
                send_file_chunks(self.proc.stdin, kind, chunks, os.fstat(fh.fileno()).st_size)
            except BrokenPipeError:  # the worker is gone; reading our own file may still fail as OSError
                raise WorkerEnded("worker closed its input") from None

    def close_input(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    # -- worker -> parent -----------------------------------------------------------------------
    def next(self, timeout: float) -> Message | None:
        """The next valid message; None if none came within `timeout`. Raises ProtocolError for a
        bad frame (the worker is already killed) and WorkerEnded at the end of its stream."""
        try:
            item = self._messages.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            self._messages.put(_END)  # stays ended for later calls
            raise WorkerEnded("worker stream ended")
        if isinstance(item, _Failure):
            raise item.error
        assert isinstance(item, Message)
        return item

    def _read(self) -> None:
        assert self.proc.stdout is not None
        stream: BinaryIO = self.proc.stdout  # type: ignore[assignment]
        try:
            while not self._stop.is_set():
                message = protocol.receive(stream, self.schema)
                if message is None:
                    break
                self._messages.put(message)
        except ProtocolError as exc:
            self.kill()  # nothing more from this worker is read, let alone acted on
            self._messages.put(_Failure(exc))
        except (OSError, ValueError):
            pass
        self._messages.put(_END)

    def _drain(self) -> None:
        """Read stderr in bounded chunks until its end (or shortly after the worker was reaped);
        only this thread touches the pipe until `close` joined it."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        reads_left = _AFTER_STOP_READS
        try:
            while reads_left > 0:
                ready, _, _ = select.select([fd], [], [], 0.1)
                if not ready:
                    if self._stderr_done.is_set():
                        break
                    continue
                chunk = os.read(fd, _READ_BYTES)
                if not chunk:
                    break
                self._take(chunk)
                if self._stderr_done.is_set():
                    reads_left -= 1
        except (OSError, ValueError):
            pass  # the pipe is gone: nothing more to keep
        self._end_line()

    def _take(self, chunk: bytes) -> None:
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            piece = chunk[start:] if newline < 0 else chunk[start:newline]
            room = _LINE_BYTES - len(self._line)
            if room > 0:
                self._line += piece[:room]
            if newline < 0:
                return
            self._end_line()
            start = newline + 1

    def _end_line(self) -> None:
        line = self._line.decode("utf-8", "replace").rstrip()
        self._line.clear()
        if line:
            self.stderr_tail.append(line[:STDERR_LINE_CHARS])
            del self.stderr_tail[:-STDERR_LINES]

    # -- lifetime -------------------------------------------------------------------------------
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker's whole session (a worker cannot fork, but be thorough). A forked
        worker's server does it, and only while that pid is still its unreaped child."""
        if isinstance(self.proc, subprocess.Popen):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    def terminate(self, grace: float = 5.0) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        self._stop.set()
        if self.alive():
            self.kill()
        self.proc.wait()
        self.close_input()
        self._stderr_done.set()
        self._drainer.join(timeout=5)  # before closing its pipe: the drainer reads it until then
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None and (stream is not self.proc.stderr or not self._drainer.is_alive()):
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def death_reason(self, what: str = "worker") -> str:
        code = self.proc.poll()
        if code is None:
            return f"{what} stopped answering"
        self._stderr_done.set()
        self._drainer.join(timeout=2)  # its last lines may still be in the pipe
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            hint = {"SIGKILL": " (killed: out of memory or a limit)", "SIGXCPU": " (CPU time limit)",
                    "SIGSEGV": " (crashed)"}.get(name, "")
            return f"{what} died with {name}{hint}"
        tail = next((line for line in reversed(self.stderr_tail) if line.strip()), None)
        detail = f": {tail}" if tail else " without a result"
        return f"{what} exited with code {code}{detail}"


class FileReceiver:
    """Writes files streamed by a worker, each only at the destination the parent chose for its kind."""

    def __init__(self, destinations: dict[str, Path], max_bytes: dict[str, int]) -> None:
        self.destinations = destinations
        self.max_bytes = max_bytes
        self.written: dict[str, Path] = {}
        self._kind: str | None = None
        self._size = 0
        self._received = 0
        self._digest = hashlib.sha256()
        self._tmp: Path | None = None
        self._fh: IO[bytes] | None = None

    def handles(self, message: Message) -> bool:
        return message.type in FILE_MESSAGES

    def handle(self, message: Message) -> None:
        """Act on a file message; raises ProtocolError (and leaves no file behind) when it is wrong."""
        try:
            if message.type == "file_begin":
                self._begin(message["file"], message["size"])
            elif message.type == "file_chunk":
                self._chunk(message.payload)
            elif message.type == "file_end":
                self._end(message["sha256"])
        except ProtocolError:
            self.abort()
            raise

    def _begin(self, kind: str, size: int) -> None:
        if self._kind is not None:
            raise ProtocolError(f"worker began a {kind!r} file inside a {self._kind!r} file")
        if kind not in self.destinations:
            raise ProtocolError(f"worker sent a file of an unexpected kind {kind[:40]!r}")
        cap = self.max_bytes.get(kind, 0)
        if not 0 <= size <= cap:
            raise ProtocolError(f"worker announced a {size}-byte {kind} file (at most {cap})")
        destination = self.destinations[kind]
        destination.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = destination.with_name(f".{destination.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        self._fh = open(self._tmp, "wb")  # noqa: SIM115 - closed in _end or abort
        self._kind, self._size, self._received = kind, size, 0
        self._digest = hashlib.sha256()

    def _chunk(self, payload: bytes) -> None:
        if self._kind is None or self._fh is None:
            raise ProtocolError("worker sent a file chunk outside a file")
        self._received += len(payload)
        if self._received > self._size:
            raise ProtocolError(f"worker sent more than the announced {self._size} bytes of its {self._kind} file")
        self._digest.update(payload)
        self._fh.write(payload)

    def _end(self, sha256: str) -> None:
        if self._kind is None or self._fh is None or self._tmp is None:
            raise ProtocolError("worker ended a file it never began")
        if self._received != self._size:
            raise ProtocolError(f"worker sent {self._received} of the announced {self._size} bytes of its "
                                f"{self._kind} file")
        if sha256 != self._digest.hexdigest():
            raise ProtocolError(f"worker's {self._kind} file does not match its sha256")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        destination = self.destinations[self._kind]
        os.replace(self._tmp, destination)
        self.written[self._kind] = destination
        self._kind, self._fh, self._tmp = None, None, None

    def abort(self) -> None:
        """Drop a half-received file (the worker died or broke the protocol mid-file)."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.unlink()
        self._kind, self._fh, self._tmp = None, None, None


# -- the worker's side of a file ---------------------------------------------------------------


def send_file_chunks(out: IO[bytes], kind: str, chunks: Iterable[bytes | memoryview], size: int) -> None:
    """Stream a file to the parent: begin, chunks (at most CHUNK_BYTES each), end with its sha256."""
    digest = hashlib.sha256()
    protocol.send(out, "file_begin", file=kind, size=size)
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        for start in range(0, len(view), protocol.CHUNK_BYTES):
            piece = view[start:start + protocol.CHUNK_BYTES]
            digest.update(piece)
            protocol.send(out, "file_chunk", piece)
    protocol.send(out, "file_end", sha256=digest.hexdigest())


def receive_file(stream: BinaryIO, schema: Schema, begin: Message) -> bytearray:
    """In the worker: the bytes of a file the parent streams, after its `file_begin` message."""
    size = int(begin["size"])
    data = bytearray(size)
    filled = 0
    digest = hashlib.sha256()
    while True:
        message = protocol.receive(stream, schema)
        if message is None:
            raise ProtocolError("parent stream ended inside a file")
        if message.type == "file_chunk":
            end = filled + len(message.payload)
            if end > size:
                raise ProtocolError("parent sent more file bytes than announced")
            data[filled:end] = message.payload
            digest.update(message.payload)
            filled = end
        elif message.type == "file_end":
            if filled != size or message["sha256"] != digest.hexdigest():
                raise ProtocolError("file from the parent is incomplete or corrupt")
            return data
        else:
            raise ProtocolError(f"parent sent {message.type!r} inside a file")
