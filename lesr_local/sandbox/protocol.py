"""The one message protocol between the engine and every process that runs candidate code.

A frame is a fixed 12-byte prefix (header length: uint32, payload length: uint64, little-endian),
a UTF-8 JSON object (the header, always with a string "type"), then raw payload bytes (frames of
a video, chunks of a checkpoint, check states). Nothing is pickled in either direction: a worker
that ran hostile code can at worst send a malformed frame, which the reader refuses with a
one-line `ProtocolError` before acting on it.

The reader checks each frame against a `Schema` for its direction: the allowed message types, the
type of every field, and size caps for the header and the payload. Sandboxed workers speak it over
plain pipes (stdin/stdout); the LLM worker, which runs no candidate code, over a socketpair. No
message ever carries a file descriptor: a frame is bytes only.
"""

from __future__ import annotations

import contextlib
import json
import math
import select
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

PREFIX = struct.Struct("<IQ")
MAX_HEADER_BYTES = 256 * 1024
CHUNK_BYTES = 4 * 2**20  # payload slice used when streaming a file


class ProtocolError(Exception):
    """A frame broke the protocol; str() is the one-line reason."""


@dataclass
class Message:
    type: str
    header: dict[str, Any]
    payload: bytes = b""

    def __getitem__(self, key: str) -> Any:
        return self.header[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.header.get(key, default)


# A field spec is a tuple of accepted Python types; `None` in it allows JSON null.
FieldSpec = tuple[type | None, ...]
INT: FieldSpec = (int,)
NUM: FieldSpec = (int, float)
STR: FieldSpec = (str,)
BOOL: FieldSpec = (bool,)
LIST: FieldSpec = (list,)
DICT: FieldSpec = (dict,)


def optional(spec: FieldSpec) -> FieldSpec:
    return (*spec, None)


@dataclass(frozen=True)
class MessageSpec:
    """Required and optional header fields of one message type, and its payload cap in bytes."""

    required: Mapping[str, FieldSpec] = field(default_factory=dict)
    optional: Mapping[str, FieldSpec] = field(default_factory=dict)
    max_payload: int = 0


@dataclass(frozen=True)
class Schema:
    name: str  # says which stream broke the rules, e.g. "training worker"
    messages: Mapping[str, MessageSpec]
    max_string: int = 4000  # longest string anywhere in a header
    max_list: int = 100_000  # longest list anywhere in a header

    def validate(self, message: Message) -> None:
        spec = self.messages.get(message.type)
        if spec is None:
            raise ProtocolError(f"{self.name} sent an unknown message type {message.type[:40]!r}")
        if len(message.payload) > spec.max_payload:
            raise ProtocolError(f"{self.name} sent a {message.type!r} payload of {len(message.payload)} bytes "
                                f"(at most {spec.max_payload})")
        for key, value in message.header.items():
            if key == "type":
                continue
            accepted = spec.required.get(key) or spec.optional.get(key)
            if accepted is None:
                raise ProtocolError(f"{self.name} sent an unexpected field {key[:40]!r} in {message.type!r}")
            if not _matches(value, accepted):
                raise ProtocolError(f"{self.name} sent {key}={_short(value)} in {message.type!r} "
                                    f"(expected {_names(accepted)})")
            self._check_sizes(value, f"{message.type}.{key}")
        missing = [k for k in spec.required if k not in message.header]
        if missing:
            raise ProtocolError(f"{self.name} sent {message.type!r} without {', '.join(missing)}")

    def _check_sizes(self, value: Any, where: str, depth: int = 0) -> None:
        if depth > 6:
            raise ProtocolError(f"{self.name} sent a header nested too deeply at {where}")
        if isinstance(value, str) and len(value) > self.max_string:
            raise ProtocolError(f"{self.name} sent a {len(value)}-character string at {where}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ProtocolError(f"{self.name} sent a non-finite number at {where}")
        if isinstance(value, list):
            if len(value) > self.max_list:
                raise ProtocolError(f"{self.name} sent a {len(value)}-item list at {where}")
            for item in value:
                self._check_sizes(item, where, depth + 1)
        if isinstance(value, dict):
            for key, item in value.items():
                self._check_sizes(key, where, depth + 1)
                self._check_sizes(item, where, depth + 1)


def _matches(value: Any, accepted: FieldSpec) -> bool:
    if value is None:
        return None in accepted
    if isinstance(value, bool):  # JSON true is not a number here
        return bool in accepted
    return any(t is not None and isinstance(value, t) for t in accepted)


def _names(accepted: FieldSpec) -> str:
    return " or ".join("null" if t is None else t.__name__ for t in accepted)


def _short(value: Any) -> str:
    text = json.dumps(value)[:40] if not isinstance(value, str) else repr(value[:40])
    return text


# -- writing ------------------------------------------------------------------------------------


def encode(type_: str, payload: bytes | memoryview = b"", **fields: Any) -> bytes:
    header = json.dumps({"type": type_, **fields}, allow_nan=False, separators=(",", ":")).encode()
    return PREFIX.pack(len(header), len(payload)) + header


def send(stream: IO[bytes], type_: str, payload: bytes | memoryview = b"", **fields: Any) -> None:
    """Write one frame and flush. The payload is written as is (a memoryview is not copied)."""
    stream.write(encode(type_, payload, **fields))
    if len(payload):
        stream.write(payload)
    stream.flush()


# -- reading ------------------------------------------------------------------------------------


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    """`size` bytes, or None at a clean end of stream before the first byte."""
    if size == 0:
        return b""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            if remaining == size:
                return None
            raise ProtocolError(f"stream ended inside a frame ({size - remaining} of {size} bytes)")
        chunks.append(chunk)
        remaining -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def receive(stream: IO[bytes], schema: Schema) -> Message | None:
    """Read and validate the next frame; None at the end of the stream. Raises ProtocolError."""
    prefix = _read_exact(stream, PREFIX.size)
    if prefix is None:
        return None
    header_len, payload_len = PREFIX.unpack(prefix)
    if header_len == 0 or header_len > MAX_HEADER_BYTES:
        raise ProtocolError(f"{schema.name} sent a {header_len}-byte header (at most {MAX_HEADER_BYTES})")
    largest = max((spec.max_payload for spec in schema.messages.values()), default=0)
    if payload_len > largest:  # refused before reading: an oversized frame never lands in memory
        raise ProtocolError(f"{schema.name} announced a {payload_len}-byte payload (at most {largest})")
    raw = _read_exact(stream, header_len)
    if raw is None:
        raise ProtocolError(f"{schema.name} stream ended after a frame prefix")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # bad UTF-8, bad JSON, a 5000-digit int
        raise ProtocolError(f"{schema.name} sent a header that is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise ProtocolError(f"{schema.name} sent a header without a message type")
    payload = _read_exact(stream, payload_len) if payload_len else b""
    if payload is None:
        raise ProtocolError(f"{schema.name} stream ended before a payload")
    message = Message(header["type"], header, payload)
    schema.validate(message)
    return message


# -- a duplex channel of JSON messages (the LLM worker) ----------------------------------------

MESSAGE_SCHEMA = Schema("worker", {"msg": MessageSpec(required={"items": LIST})}, max_string=1_000_000)


class Channel:
    """Tuples of JSON values both ways over one socket, in protocol frames: a drop-in for a
    multiprocessing Connection (send / recv / poll / close) that never unpickles.

    The socket file is unbuffered, so `poll` (select) sees exactly what `recv` would read."""

    def __init__(self, fd: int, schema: Schema = MESSAGE_SCHEMA) -> None:
        self._sock = socket.socket(fileno=fd)
        self._reader = self._sock.makefile("rb", buffering=0)
        self._writer = self._sock.makefile("wb")
        self._schema = schema
        self.closed = False

    def send(self, message: tuple[Any, ...] | list[Any]) -> None:
        send(self._writer, "msg", items=list(message))

    def recv(self) -> tuple[Any, ...]:
        message = receive(self._reader, self._schema)  # type: ignore[arg-type]
        if message is None:
            raise EOFError("channel closed")
        return tuple(message["items"])

    def poll(self, timeout: float | None = 0.0) -> bool:
        ready, _, _ = select.select([self._sock], [], [], timeout)
        return bool(ready)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for closer in (self._writer.close, self._reader.close, self._sock.close):
            with contextlib.suppress(OSError):
                closer()
