"""Where a training's files go: its checkpoint and its policy, as tensor files (data only).

The trainer never names a path. It hands a `TensorFile` of a kind ("checkpoint" or "policy") to
its `TrainingFiles`: in-process (`LocalFiles`, used by tests and by `train()` callers) that writes
at the paths of the spec; in the sandboxed worker (`rl.client`) it streams to the parent, which
writes at the paths it chose itself. Loading parses JSON and slices bytes: nothing in a checkpoint
can run code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from lesr_local.sandbox.tensorfile import TensorFile, TensorFileError, unpack

CHECKPOINT_NAME = "checkpoint.safetensors"
CHECKPOINT = "checkpoint"
POLICY = "policy"


class TrainingFiles(Protocol):
    wants_checkpoints: bool
    wants_policy: bool

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The state to resume from (arrays as numpy), or None to start afresh."""
        ...

    def save(self, kind: str, file: TensorFile) -> None: ...


def checkpoint_path(directory: Path) -> Path:
    return Path(directory) / CHECKPOINT_NAME


def has_checkpoint(directory: Path | None) -> bool:
    return directory is not None and checkpoint_path(directory).is_file()


def read_bytes(path: Path) -> bytearray:
    """The whole file in one writable buffer (arrays unpacked from it are writable views)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        data = bytearray(size)
        if fh.readinto(data) != size:
            raise TensorFileError(f"{path} changed while it was read")
    return data


def write_atomic(path: Path, file: TensorFile) -> None:
    """Stream `file` to a temporary file next to `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        for chunk in file.chunks():
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class LocalFiles:
    """In-process files: the checkpoint in `checkpoint_dir`, the policy at `policy_path`."""

    def __init__(self, checkpoint_dir: Path | None, policy_path: Path | None) -> None:
        self.checkpoint_dir = checkpoint_dir
        self.policy_path = policy_path
        self.wants_checkpoints = checkpoint_dir is not None
        self.wants_policy = policy_path is not None

    def load_checkpoint(self) -> dict[str, Any] | None:
        if not has_checkpoint(self.checkpoint_dir):
            return None
        return unpack(read_bytes(checkpoint_path(self.checkpoint_dir)))  # type: ignore[arg-type]

    def save(self, kind: str, file: TensorFile) -> None:
        target = {CHECKPOINT: self.checkpoint_dir and checkpoint_path(self.checkpoint_dir),
                  POLICY: self.policy_path}.get(kind)
        if target is None:
            raise ValueError(f"no destination for a {kind} file")
        write_atomic(Path(target), file)
