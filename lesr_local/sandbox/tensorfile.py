"""Checkpoints and policies as data only: the safetensors layout, written and read with numpy.

A file is an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape
and byte range, then the raw tensor bytes. Loading it parses JSON and slices bytes, so a file
written by a compromised worker cannot run code when read (unlike pickle or `torch.load` without
`weights_only`). Files open with the `safetensors` library too; our own state that is not a tensor
(counters, RNG states, curves) sits in the header's `__metadata__` as one JSON string.

`pack(tree)` splits a nested dict into that JSON tree and a list of arrays, and streams the result
in slices without copying the arrays (a 300k-row replay buffer is never held twice).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

_LEN = struct.Struct("<Q")
MAX_HEADER_BYTES = 16 * 2**20
STATE_KEY = "lesr_state"  # the __metadata__ entry holding the non-tensor tree
_TENSOR_REF = "__tensor__"

_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
_CODES = {dtype: code for code, dtype in _DTYPES.items()}


class TensorFileError(ValueError):
    """The bytes are not a well-formed tensor file; str() is the one-line reason."""


@dataclass
class TensorFile:
    """A tensor file ready to stream: its header bytes, then each array's bytes in order."""

    header: bytes
    arrays: list[np.ndarray]

    @property
    def size(self) -> int:
        return len(self.header) + sum(a.nbytes for a in self.arrays)

    def chunks(self, chunk_bytes: int = 4 * 2**20) -> Iterator[memoryview]:
        yield memoryview(self.header)
        for array in self.arrays:
            if array.nbytes == 0:
                continue
            view = memoryview(array.reshape(-1)).cast("B")
            for start in range(0, len(view), chunk_bytes):
                yield view[start:start + chunk_bytes]

    def to_bytes(self) -> bytes:
        return b"".join(bytes(c) for c in self.chunks())


def pack(tree: dict[str, Any]) -> TensorFile:
    """Turn a nested dict whose leaves are JSON values or arrays into a TensorFile.

    Arrays may be numpy arrays or anything with `.numpy()` on the CPU (torch tensors): they are
    referenced, not copied, unless they must be made contiguous.
    """
    arrays: list[np.ndarray] = []
    names: list[str] = []

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            return {str(k): walk(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [walk(v, f"{path}.{i}") for i, v in enumerate(node)]
        array = _as_array(node)
        if array is None:
            return node
        arrays.append(array)
        names.append(path)
        return {_TENSOR_REF: path}

    state = walk(tree, "")
    index: dict[str, Any] = {"__metadata__": {STATE_KEY: json.dumps(state)}}
    offset = 0
    for name, array in zip(names, arrays, strict=True):
        code = _CODES.get(array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype)
        if code is None:
            raise TensorFileError(f"cannot store dtype {array.dtype} ({name})")
        index[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    raw = json.dumps(index).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors pads the header to 8 bytes
    return TensorFile(_LEN.pack(len(raw)) + raw, arrays)


def _as_array(node: Any) -> np.ndarray | None:
    if isinstance(node, np.ndarray):
        array = node
    elif hasattr(node, "numpy") and hasattr(node, "dtype") and hasattr(node, "detach"):
        array = node.detach().cpu().numpy()  # a torch tensor: a view on the CPU
    else:
        return None
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    # np.ascontiguousarray would turn a 0-d array (an optimizer's step count) into shape (1,)
    return array if array.flags.c_contiguous else np.ascontiguousarray(array).reshape(array.shape)


def unpack(data: bytes | bytearray | memoryview) -> dict[str, Any]:
    """Read a tensor file: the nested tree back, arrays as numpy views of `data` (no copies).

    Pass a bytearray to get writable arrays. Raises TensorFileError on anything malformed.
    """
    view = memoryview(data)
    if len(view) < _LEN.size:
        raise TensorFileError("tensor file is shorter than its header length")
    (header_len,) = _LEN.unpack(view[:_LEN.size])
    if header_len > MAX_HEADER_BYTES or _LEN.size + header_len > len(view):
        raise TensorFileError(f"tensor file header of {header_len} bytes does not fit the file")
    try:
        index = json.loads(bytes(view[_LEN.size:_LEN.size + header_len]).decode("utf-8"))
    except (ValueError, RecursionError):
        raise TensorFileError("tensor file header is not JSON") from None
    if not isinstance(index, dict):
        raise TensorFileError("tensor file header is not a JSON object")
    body = view[_LEN.size + header_len:]
    arrays: dict[str, np.ndarray] = {}
    for name, info in index.items():
        if name == "__metadata__":
            continue
        arrays[name] = _array(name, info, body)
    meta = index.get("__metadata__") or {}
    if not isinstance(meta, dict) or not isinstance(meta.get(STATE_KEY, "{}"), str):
        raise TensorFileError("tensor file metadata is malformed")
    try:
        state = json.loads(meta.get(STATE_KEY, "{}"))
    except (ValueError, RecursionError):
        raise TensorFileError("tensor file state is not JSON") from None

    def rebuild(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {_TENSOR_REF}:
                name = node[_TENSOR_REF]
                if name not in arrays:
                    raise TensorFileError(f"tensor file refers to a missing tensor {str(name)[:60]!r}")
                return arrays[name]
            return {k: rebuild(v) for k, v in node.items()}
        if isinstance(node, list):
            return [rebuild(v) for v in node]
        return node

    try:
        tree = rebuild(state)
    except RecursionError:
        raise TensorFileError("tensor file state is nested too deeply") from None
    if not isinstance(tree, dict):
        raise TensorFileError("tensor file state is not an object")
    return tree


def _array(name: str, info: Any, body: memoryview) -> np.ndarray:
    if not isinstance(info, dict):
        raise TensorFileError(f"tensor {name[:60]!r}: malformed entry")
    dtype = _DTYPES.get(info.get("dtype"))  # type: ignore[arg-type]
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if dtype is None:
        raise TensorFileError(f"tensor {name[:60]!r}: unsupported dtype {str(info.get('dtype'))[:20]!r}")
    if (not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape)
            or not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(n, int) for n in offsets)):
        raise TensorFileError(f"tensor {name[:60]!r}: malformed shape or offsets")
    begin, end = offsets
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if not 0 <= begin <= end <= len(body) or end - begin != count * dtype.itemsize:
        raise TensorFileError(f"tensor {name[:60]!r}: byte range does not match its shape")
    return np.frombuffer(body[begin:end], dtype=dtype, count=count).reshape(shape)


def read_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Only the non-tensor tree of a tensor file (counters, curves): the header is read, the tensor
    bytes are not. Raises TensorFileError on anything malformed, OSError when it cannot be read."""
    with open(path, "rb") as fh:
        head = fh.read(_LEN.size)
        if len(head) < _LEN.size:
            raise TensorFileError("tensor file is shorter than its header length")
        (header_len,) = _LEN.unpack(head)
        if header_len > MAX_HEADER_BYTES:
            raise TensorFileError(f"tensor file header of {header_len} bytes is too large")
        raw = fh.read(header_len)
    try:
        index = json.loads(raw.decode("utf-8"))
        state = json.loads((index.get("__metadata__") or {}).get(STATE_KEY, "{}"))
    except (ValueError, RecursionError, AttributeError):
        raise TensorFileError("tensor file header is not valid JSON") from None
    if not isinstance(state, dict):
        raise TensorFileError("tensor file state is not a JSON object")
    return state
