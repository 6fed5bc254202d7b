"""Cores shared by separate `lesr train` processes on one machine: one lock file per core.

Each training takes the free core slots (a non-blocking `flock` on `<dir>/core-<i>.lock`) and runs
that many torch threads, at least one. The kernel drops a process's locks when it ends, however it
ends, so a killed training never keeps its cores. A training started while others hold every slot
runs one thread instead of another full set; the ones already running keep what they took (torch
cannot be re-threaded from outside a worker), so for an even split give each `--threads N`.
The slots are per user (trainings of other users, and `lesr run`'s workers, are not counted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from lesr_local.workspace import APP_NAME, user_cache_dir

try:
    import fcntl
except ImportError:  # no flock (Windows): every training sees all cores free, as before
    fcntl = None  # type: ignore[assignment]


def slots_dir() -> Path:
    """$XDG_RUNTIME_DIR/lesr-local/core-slots (cleared at logout), else the user's cache folder."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / APP_NAME if runtime else user_cache_dir()
    return base / "core-slots"


@dataclass
class CoreClaim:
    """The core slots this process holds (indices), until release() or the end of the process."""

    held: list[int]
    total: int
    usable: bool = True  # False when the slot folder could not be used (nothing is shared then)
    _files: list[IO[bytes]] = field(default_factory=list, repr=False)

    def release(self) -> None:
        for handle in self._files:
            handle.close()  # closing the file drops its lock
        self._files.clear()
        self.held = []

    def __enter__(self) -> CoreClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim_cores(wanted: int, total: int, directory: Path | None = None) -> CoreClaim:
    """Take up to `wanted` of the `total` core slots that no other process holds (never blocks).

    A folder that cannot be used (read-only, missing rights) gives an empty claim: the caller then
    runs as if alone, which is what it did before slots existed.
    """
    claim = CoreClaim(held=[], total=total, usable=fcntl is not None)
    if fcntl is None or wanted < 1:
        return claim
    folder = directory if directory is not None else slots_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        claim.usable = False
        return claim
    for index in range(total):
        if len(claim.held) >= wanted:
            break
        try:
            handle = (folder / f"core-{index}.lock").open("ab")
        except OSError:
            continue
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by another training
            handle.close()
            continue
        claim.held.append(index)
        claim._files.append(handle)
    return claim


def threads_for(claim: CoreClaim, requested: int = 0) -> int:
    """Torch threads for a training holding `claim`: `requested` > 0 wins, else one per slot held
    (at least one; all cores when the slots could not be used at all)."""
    if requested > 0:
        return requested
    if claim.held:
        return len(claim.held)
    return 1 if claim.usable else claim.total
