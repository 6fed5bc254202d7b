"""Shared test fixtures. Area-specific helpers live in tests/helpers_<area>.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")


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
