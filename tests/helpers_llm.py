"""Tiny GGUF files for fast error-path tests (written with the real `gguf` package)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def write_tiny_gguf(
    path: Path, *, arch: str = "llama", context_length: int = 256, block_count: int = 1,
    embedding: int = 8, chat_template: str | None = None, tensor_elements: int = 64,
) -> Path:
    """A small but well-formed GGUF: metadata plus one F32 tensor (llama.cpp cannot run it)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name("tiny test model")
    writer.add_context_length(context_length)
    writer.add_block_count(block_count)
    writer.add_embedding_length(embedding)
    writer.add_head_count(2)
    writer.add_head_count_kv(2)
    writer.add_file_type(0)  # ALL_F32
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    writer.add_tensor("token_embd.weight", np.ones(tensor_elements, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def truncate(path: Path, keep_fraction: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: max(8, int(len(data) * keep_fraction))])
    return path


def write_sparse_huge_gguf(path: Path, size_bytes: int) -> Path:
    """A valid header whose single F32 tensor claims `size_bytes` of data; the file is sparse, so it
    takes no disk space but its size (what the memory estimate sees) is real."""
    import gguf

    elements = size_bytes // 4
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(256)
    writer.add_block_count(1)
    writer.add_embedding_length(8)
    writer.add_file_type(0)
    writer.add_tensor_info("token_embd.weight", (elements,), np.dtype(np.float32), elements * 4,
                           raw_dtype=gguf.GGMLQuantizationType.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    header = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(header + 64 + elements * 4)  # sparse: no blocks written
    return path


def write_not_gguf(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04" + struct.pack("<I", 0) * 16)
    return path
