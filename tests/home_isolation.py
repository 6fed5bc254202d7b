"""The suite never touches the user's home: every test process gets a HOME and XDG folders of its own.

At import (from conftest, before any test runs) this process's HOME, XDG_CACHE_HOME,
XDG_CONFIG_HOME, XDG_DATA_HOME and XDG_STATE_HOME point into a fresh temporary folder, so Ray's
~/.ray, lesr-local's cache (LLM worker log, --constrain verdicts, core slots), matplotlib's config
and anything else a test writes land there and vanish with it. Only what `make setup` prepared
is carried over, read-only: the assembled default model is hard-linked (or symlinked) into the test
cache, and the --constrain verdicts and llama.cpp safe-mode verdict are copied with their paths
rewritten, so the suite does not measure them again. Without a prepared cache the suite prepares
its own.

`HomeSnapshot` records the real ~/.ray, ~/.config and the lesr-local cache at the start of the
session; conftest fails the session if a test changed any of them.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "lesr-local"
REAL_HOME = Path.home()
REAL_CACHE = Path(platformdirs.user_cache_dir(APP))
# pip's own cache, where `make setup` left the llama-cpp-python wheel it built (minutes to rebuild):
# `make bundle` in the air-gapped test must find it as a user's `make bundle` does.
REAL_PIP_CACHE = Path(os.environ.get("PIP_CACHE_DIR") or platformdirs.user_cache_dir("pip"))
CARRIED_VERDICTS = ("constrain-probe.json", "llama-runtime.json")


def isolate_home() -> Path:
    """Point this process's home and XDG folders at a new temporary folder; returns it."""
    root = Path(tempfile.mkdtemp(prefix="lesr-test-home-"))
    atexit.register(shutil.rmtree, root, True)
    folders = {"XDG_CACHE_HOME": root / ".cache", "XDG_CONFIG_HOME": root / ".config",
               "XDG_DATA_HOME": root / ".local" / "share", "XDG_STATE_HOME": root / ".local" / "state"}
    for folder in folders.values():
        folder.mkdir(parents=True)
    os.environ["HOME"] = str(root)
    os.environ.update({name: str(folder) for name, folder in folders.items()})
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        os.environ.pop(name, None)  # a developer's Ray settings must not reach the tests
    _carry_setup_products(REAL_CACHE, folders["XDG_CACHE_HOME"] / APP)
    return root


def _carry_setup_products(real: Path, test: Path) -> None:
    models = real / "models"
    if models.is_dir():
        (test / "models").mkdir(parents=True)
        for item in models.iterdir():
            if item.is_file() and not item.name.startswith("."):
                _link(item, test / "models" / item.name)
    for name in CARRIED_VERDICTS:
        source = real / name
        if not source.is_file():
            continue
        try:
            verdicts = json.loads(source.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(verdicts, dict):  # keyed by model path: the carried models live under the test cache
            old, new = str(real.resolve()), str(test.resolve())
            verdicts.update({key.replace(old, new): value for key, value in verdicts.items()})
        (test / name).write_text(json.dumps(verdicts))


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # same size and mtime: the bundled model's marker still matches
    except OSError:
        target.symlink_to(source)


@dataclass(frozen=True)
class HomeSnapshot:
    entries: dict[str, tuple[int, int]]

    @classmethod
    def take(cls) -> HomeSnapshot:
        entries: dict[str, tuple[int, int]] = {}
        for top in (REAL_HOME / ".ray", REAL_HOME / ".config", REAL_CACHE):
            if not top.exists():
                continue
            for path in [top, *top.rglob("*")][:50_000]:
                try:
                    st = path.lstat()
                except OSError:
                    continue
                entries[str(path)] = (st.st_size, st.st_mtime_ns) if path.is_file() else (-1, 0)
        return cls(entries)

    def changes_since(self, before: HomeSnapshot) -> list[str]:
        added = [f"added {p}" for p in sorted(set(self.entries) - set(before.entries))]
        removed = [f"removed {p}" for p in sorted(set(before.entries) - set(self.entries))]
        changed = [f"changed {p}" for p in sorted(set(self.entries) & set(before.entries))
                   if self.entries[p] != before.entries[p]]
        return added + removed + changed
