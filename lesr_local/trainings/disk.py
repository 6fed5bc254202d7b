"""What a home holds on disk, and what of it can go (`lesr show` reports it, `lesr gc` frees it).

Checkpoints (each holds a replay buffer) are the bulk. One is needed while its training can still go
on: a pending, running or paused training, or one that failed outside its candidate (a resume tries
it again). The last checkpoint of a finished training is kept only to let a longer training of the
same settings continue it (trainings/service.py), within a cap per home: it can go. Everything else
can go too: the checkpoint of a training that finished without use for one, of a training whose
candidate failed it, of a training the store no longer knows, and the temporary files of a write that
was killed. Policies, candidate modules, videos and the store are results: never touched.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lesr_local.procs import same_process
from lesr_local.rl.checkpoint import CHECKPOINT_NAME
from lesr_local.sandbox.tensorfile import TensorFileError, read_state
from lesr_local.store import CANDIDATE_FAILURE, Store, TrainingRecord

KEPT_FOR_RESUME = "needed to resume"
KEPT_FOR_EXTENSION = "kept so a longer training can continue it"
NOT_NEEDED = "not needed by any training"
STALE_TEMPORARY = "temporary file of an interrupted write"


@dataclass
class DiskItem:
    path: Path
    size: int
    why: str  # one of the reasons above
    run_id: str | None

    @property
    def freeable(self) -> bool:
        return self.why != KEPT_FOR_RESUME


@dataclass
class DiskUse:
    """A run's folder (or a whole home) by kind: bytes and file counts, and its checkpoints."""

    policies: int = 0
    candidates: int = 0
    videos: int = 0
    other: int = 0
    items: list[DiskItem] = field(default_factory=list)  # checkpoints and temporary files, with why

    @property
    def checkpoints(self) -> int:
        return sum(i.size for i in self.items)

    @property
    def freeable(self) -> int:
        return sum(i.size for i in self.items if i.freeable)

    def to_json(self) -> dict[str, object]:
        reasons: dict[str, dict[str, int]] = {}
        for item in self.items:
            entry = reasons.setdefault(item.why, {"files": 0, "bytes": 0})
            entry["files"] += 1
            entry["bytes"] += item.size
        return {"policies_bytes": self.policies, "candidates_bytes": self.candidates, "videos_bytes": self.videos,
                "other_bytes": self.other, "checkpoints_bytes": self.checkpoints, "freeable_bytes": self.freeable,
                "checkpoints": reasons}


def checkpoint_reason(record: TrainingRecord, checkpoint: Path) -> str:
    if record.status in ("pending", "running", "cancelled") or (
            record.status == "failed" and record.failure != CANDIDATE_FAILURE):
        return KEPT_FOR_RESUME
    if record.status == "finished" and record.stopped_at_step is None and record.algo == "td3":
        try:
            if read_state(checkpoint).get("episode_boundary"):
                return KEPT_FOR_EXTENSION
        except (OSError, TensorFileError):
            pass
    return NOT_NEEDED


def run_disk_use(store: Store, run_id: str) -> DiskUse:
    use = DiskUse()
    folder = store.runs_dir / run_id
    if not folder.is_dir():
        return use
    run = store.find_run(run_id)
    active = bool(run and run.status == "running" and run.owner_pid and same_process(run.owner_pid, run.owner_started))
    by_folder = {Path(t.checkpoint_dir).resolve(): t for t in store.list_trainings(run_id) if t.checkpoint_dir}
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        size = _size(path)
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            use.items.append(DiskItem(path, size, KEPT_FOR_RESUME if active else STALE_TEMPORARY, run_id))
        elif path.name == CHECKPOINT_NAME:
            record = by_folder.get(path.parent.resolve())
            why = NOT_NEEDED if record is None else checkpoint_reason(record, path)
            use.items.append(DiskItem(path, size, why, run_id))
        elif path.suffix == ".safetensors" or path.suffix == ".pt":
            use.policies += size
        elif path.suffix == ".py":
            use.candidates += size
        elif path.suffix in (".mp4", ".gif"):
            use.videos += size
        else:
            use.other += size
    return use


def home_disk_use(store: Store) -> DiskUse:
    total = DiskUse()
    for run in store.list_runs():
        use = run_disk_use(store, run.run_id)
        total.policies += use.policies
        total.candidates += use.candidates
        total.videos += use.videos
        total.other += use.other
        total.items += use.items
    return total


def free(items: list[DiskItem]) -> int:
    """Remove the freeable items (a checkpoint with its folder); returns the bytes freed."""
    freed = 0
    for item in items:
        if not item.freeable:
            continue
        try:
            item.path.unlink()
        except FileNotFoundError:
            continue
        except OSError:
            continue
        freed += item.size
        parent = item.path.parent
        if item.path.name == CHECKPOINT_NAME and parent.is_dir() and not any(parent.iterdir()):
            shutil.rmtree(parent, ignore_errors=True)
    return freed


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
