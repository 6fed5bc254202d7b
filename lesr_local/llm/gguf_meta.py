"""Read a GGUF file's header, metadata and tensor table without loading the model.

Why our own reader: gguf.GGUFReader parses every array into numpy views, which takes ~13 s for the
default model's 262k-entry vocabulary; discovery runs on every `lesr models` call. This walks the
header over an mmap, skips large arrays, and checks that the tensor data fits in the file, which is
how a truncated download is caught before llama.cpp sees it.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesr_local.errors import BadInput

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
# Arrays longer than this are recorded only by their length (vocabularies, merges, scores).
_MAX_KEPT_ARRAY = 64

# GGUF value types -> struct format of one scalar (strings and arrays handled apart).
_SCALARS: dict[int, str] = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}
_STRING = 8
_ARRAY = 9

# ggml tensor types -> (block size in elements, bytes per block). Read from the gguf package when it
# knows more types than this table (new quantizations appear often).
_TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 30: (1, 2),
}
try:  # pragma: no branch - gguf is a declared dependency
    from gguf.constants import GGML_QUANT_SIZES

    _TYPE_SIZES.update({int(k): (int(v[0]), int(v[1])) for k, v in GGML_QUANT_SIZES.items()})
except ImportError:  # pragma: no cover
    pass

# general.file_type -> quantization label, as llama.cpp's quantize tool names them.
_FILE_TYPES: dict[int, str] = {}
try:
    from gguf.constants import LlamaFileType

    _FILE_TYPES = {int(t.value): t.name.removeprefix("MOSTLY_").removeprefix("ALL_") for t in LlamaFileType}
except ImportError:  # pragma: no cover
    pass


class _Truncated(Exception):
    """The header or tensor table runs past the end of the file."""


@dataclass
class GGUFInfo:
    path: Path
    version: int
    size_bytes: int
    metadata: dict[str, Any]
    tensor_count: int
    parameters: int
    data_end: int  # offset just past the last tensor's data
    array_lengths: dict[str, int] = field(default_factory=dict)  # large arrays kept by length only

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    @property
    def architecture(self) -> str | None:
        arch = self.get("general.architecture")
        return str(arch) if arch is not None else None

    def arch_value(self, suffix: str) -> Any:
        """`<architecture>.<suffix>`, e.g. arch_value('context_length')."""
        return self.get(f"{self.architecture}.{suffix}") if self.architecture else None

    @property
    def name(self) -> str | None:
        value = self.get("general.name")
        return str(value) if value else None

    @property
    def context_length(self) -> int | None:
        value = self.arch_value("context_length")
        return int(value) if value is not None else None

    @property
    def chat_template(self) -> str | None:
        value = self.get("tokenizer.chat_template")
        return str(value) if value else None

    @property
    def quantization(self) -> str | None:
        value = self.get("general.file_type")
        if value is None:
            return None
        return _FILE_TYPES.get(int(value), f"type{int(value)}")

    @property
    def vocab_size(self) -> int | None:
        return self.array_lengths.get("tokenizer.ggml.tokens")

    def kv_bytes_per_token(self) -> int | None:
        """f16 K+V bytes llama.cpp keeps per context token (all layers); None if metadata is missing."""
        layers = self.arch_value("block_count")
        heads = self.arch_value("attention.head_count")
        embd = self.arch_value("embedding_length")
        if layers is None or embd is None:
            return None
        kv_heads = self.arch_value("attention.head_count_kv") or heads or 1
        if isinstance(kv_heads, list):  # some architectures store one value per layer
            kv_heads = max(kv_heads) if kv_heads else 1
        head_dim = (embd // heads) if heads else embd
        key_len = self.arch_value("attention.key_length") or head_dim
        value_len = self.arch_value("attention.value_length") or head_dim
        return int(layers) * int(kv_heads) * (int(key_len) + int(value_len)) * 2


def read_gguf(path: str | Path) -> GGUFInfo:
    """Parse a GGUF file; BadInput (one line) if it is missing, not GGUF, unreadable or truncated."""
    p = Path(path).expanduser()
    if not p.exists():
        raise BadInput(f"model file not found: {p}")
    if p.is_dir():
        raise BadInput(f"model path is a directory, not a GGUF file: {p}")
    try:
        size = p.stat().st_size
        if size < 24:
            raise BadInput(f"{p} is not a GGUF model (file too small: {size} bytes)")
        with p.open("rb") as fh:
            if fh.read(4) != GGUF_MAGIC:
                raise BadInput(f"{p} is not a GGUF model (bad magic bytes)")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return _parse(p, mm, size)
    except _Truncated:
        raise BadInput(f"{p} is a truncated GGUF file ({size} bytes; the header or tensor data is cut off)") from None
    except PermissionError:
        raise BadInput(f"cannot read model file {p}: permission denied") from None
    except OSError as exc:
        raise BadInput(f"cannot read model file {p}: {exc.strerror or exc}") from None


class _Cursor:
    def __init__(self, buf: mmap.mmap, size: int) -> None:
        self.buf = buf
        self.size = size
        self.pos = 0

    def take(self, fmt: str) -> Any:
        n = struct.calcsize(fmt)
        if self.pos + n > self.size:
            raise _Truncated
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return value

    def string(self) -> str:
        n = self.take("<Q")
        if self.pos + n > self.size:
            raise _Truncated
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        n = self.take("<Q")
        self.pos += n
        if self.pos > self.size:
            raise _Truncated


def _parse(path: Path, buf: mmap.mmap, size: int) -> GGUFInfo:
    cur = _Cursor(buf, size)
    cur.pos = 4
    version = cur.take("<I")
    if version not in (2, 3):
        raise BadInput(f"{path} uses GGUF version {version}; supported: 2 and 3")
    tensor_count = cur.take("<Q")
    kv_count = cur.take("<Q")
    # Sanity bounds: a corrupted header must not make us loop for hours.
    if tensor_count > 1_000_000 or kv_count > 1_000_000:
        raise BadInput(f"{path} has an implausible GGUF header (corrupted file?)")
    metadata: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    for _ in range(kv_count):
        key = cur.string()
        vtype = cur.take("<I")
        if vtype == _ARRAY:
            value, length = _read_array(cur, path)
            if value is None:
                lengths[key] = length
            else:
                metadata[key] = value
                lengths[key] = length
        else:
            metadata[key] = _read_value(cur, vtype, path)
    parameters = 0
    tensors: list[tuple[int, int, int]] = []  # (offset, n_elements, type)
    for _ in range(tensor_count):
        cur.skip_string()
        n_dims = cur.take("<I")
        if n_dims > 8:
            raise BadInput(f"{path} has a tensor with {n_dims} dimensions (corrupted file?)")
        n_elements = 1
        for _ in range(n_dims):
            n_elements *= cur.take("<Q")
        ttype = cur.take("<I")
        offset = cur.take("<Q")
        tensors.append((offset, n_elements, ttype))
        parameters += n_elements
    alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT)) or DEFAULT_ALIGNMENT
    data_start = -(-cur.pos // alignment) * alignment
    data_end = data_start
    for offset, n_elements, ttype in tensors:
        block, nbytes = _TYPE_SIZES.get(ttype, (0, 0))
        if block == 0:
            continue  # unknown type: llama.cpp will judge; skip the size check for it
        data_end = max(data_end, data_start + offset + n_elements // block * nbytes)
    if data_end > size:
        raise _Truncated
    return GGUFInfo(
        path=path, version=version, size_bytes=size, metadata=metadata, tensor_count=tensor_count,
        parameters=parameters, data_end=data_end, array_lengths=lengths,
    )


def _read_value(cur: _Cursor, vtype: int, path: Path) -> Any:
    if vtype == _STRING:
        return cur.string()
    fmt = _SCALARS.get(vtype)
    if fmt is None:
        raise BadInput(f"{path} has an unknown GGUF value type {vtype} (corrupted file?)")
    return cur.take(fmt)


def _read_array(cur: _Cursor, path: Path) -> tuple[list[Any] | None, int]:
    etype = cur.take("<I")
    length = cur.take("<Q")
    keep = length <= _MAX_KEPT_ARRAY
    if etype == _STRING:
        if keep:
            return [cur.string() for _ in range(length)], length
        for _ in range(length):
            cur.skip_string()
        return None, length
    fmt = _SCALARS.get(etype)
    if fmt is None:
        raise BadInput(f"{path} has an unknown GGUF array type {etype} (corrupted file?)")
    if keep:
        return [cur.take(fmt) for _ in range(length)], length
    cur.pos += struct.calcsize(fmt) * length
    if cur.pos > cur.size:
        raise _Truncated
    return None, length
