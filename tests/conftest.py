"""Shared test fixtures. Area-specific helpers live in tests/helpers_<area>.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.home_isolation import HomeSnapshot, isolate_home

os.environ.setdefault("MUJOCO_GL", "egl")
# The suite runs two test processes on two cores, each starting trainings with torch threads of
# their own: more OpenMP threads than cores. libgomp's default spin-wait then burns the cores the
# other process needs (two `lesr bench td3` side by side: 59 s each instead of 12 s alone); passive
# waiting gives them back (11-13 s side by side). Set before torch loads here or in any subprocess.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Before any test: this process (and every subprocess it starts) gets a home of its own.
TEST_HOME = isolate_home()
_REAL_HOME_AT_START = HomeSnapshot.take()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session if a test changed the user's ~/.ray, ~/.config or lesr-local cache."""
    if hasattr(session.config, "workerinput"):
        return  # xdist workers: the controlling process checks once, after all of them
    changes = HomeSnapshot.take().changes_since(_REAL_HOME_AT_START)
    if changes:
        print("\nthe suite changed the user's home (tests must keep to their own):\n  "
              + "\n  ".join(changes[:20]))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workspace for one test (also exported as LESR_HOME for subprocesses)."""
    workspace = tmp_path / "home"
    workspace.mkdir()
    monkeypatch.setenv("LESR_HOME", str(workspace))
    return workspace


def run_lesr(
    *args: str, home: Path | None = None, timeout: float = 300, env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real `lesr` CLI in a subprocess (python -m lesr_local), capturing text output."""
    full_env = dict(os.environ)
    full_env.setdefault("MUJOCO_GL", "egl")
    if home is not None:
        full_env["LESR_HOME"] = str(home)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "lesr_local", *args], capture_output=True, text=True, timeout=timeout,
        env=full_env, input=input,
    )


@pytest.fixture
def lesr():
    return run_lesr


def spawn_lesr(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start the real `lesr` CLI in the background, in its own session (so a test can kill it all)."""
    full_env = dict(env if env is not None else os.environ, LESR_HOME=str(home))
    full_env.setdefault("MUJOCO_GL", "egl")
    return subprocess.Popen([sys.executable, "-m", "lesr_local", *args], env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def wait_for(what: str, check: Callable[[], Any], proc: subprocess.Popen[str], timeout: float = 300,
             poll: float = 0.5) -> Any:
    """Poll `check()` until it returns something truthy; fail if `proc` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"run ended (rc {proc.returncode}) before {what}: {proc.stderr.read()[-3000:]}")
        value = check()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


# The files that take longest, longest first. With `-n 2 --dist loadfile` (the Makefile's default)
# whole files are handed out in collection order, so starting with these leaves only short files
# for the end instead of one process finishing a 60-second file while the other sits idle.
LONGEST_FILES = (
    "test_search_ray.py", "test_search_smoke.py", "test_llm_chat_model.py", "test_llm_server.py",
    "test_search_halving.py",
    "test_search_resume.py", "test_rl_worker.py", "test_rl_sb3.py", "test_render_video.py",
    "test_tui_flow.py", "test_rl_cli.py", "test_llm_client.py", "test_train_cli.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FILES)))  # stable: keeps the rest in order
