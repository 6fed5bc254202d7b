"""Training checkpoints: one file per training, written atomically (tmp file + os.replace)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_NAME = "checkpoint.pt"

FileWriter = Callable[[Path, bytes], None]  # the sandboxed worker sends files to its parent instead


def checkpoint_path(directory: Path) -> Path:
    return Path(directory) / CHECKPOINT_NAME


def has_checkpoint(directory: Path | None) -> bool:
    return directory is not None and checkpoint_path(directory).is_file()


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file next to `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_checkpoint(directory: Path, state: dict[str, Any], writer: FileWriter = write_atomic) -> Path:
    path = checkpoint_path(directory)
    writer(path, torch_bytes(state))
    return path


def load_checkpoint(directory: Path) -> dict[str, Any]:
    # weights_only=False: the checkpoint holds numpy RNG states and plain Python containers we wrote.
    return torch.load(checkpoint_path(directory), map_location="cpu", weights_only=False)
