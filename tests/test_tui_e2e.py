"""End to end in a real terminal (tmux): the app starts, shows its first screen and quits cleanly."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_lesr

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

PROJECT = Path(__file__).resolve().parent.parent


def _tmux(*args: str, socket: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=30)


def _pane(socket: str) -> str:
    return _tmux("capture-pane", "-p", "-t", "app", socket=socket).stdout


def _wait_for(socket: str, text: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _pane(socket)
        if text in screen:
            return screen
        time.sleep(0.25)
    raise AssertionError(f"{text!r} never appeared; the pane shows:\n{screen}")


@pytest.fixture
def tmux_socket(tmp_path: Path):
    socket = f"lesr-test-{os.getpid()}-{tmp_path.name}"
    yield socket
    _tmux("kill-server", socket=socket)


def test_app_starts_shows_menu_and_quits_cleanly(tmp_path: Path, tmux_socket: str) -> None:
    home = tmp_path / "home"
    marker = tmp_path / "exit-status"
    app_cmd = f"{shlex.quote(sys.executable)} -m lesr_local tui --home {shlex.quote(str(home))} --no-preview"
    # A shell runs the app, then records its exit status and shows a prompt line we can look for.
    shell = f"cd {shlex.quote(str(PROJECT))} && {app_cmd}; echo $? > {shlex.quote(str(marker))}; " \
            f"echo SHELL-BACK; exec sleep 30"
    env_args = ["-e", "MUJOCO_GL=egl", "-e", "TERM=xterm-256color"]
    _tmux("new-session", "-d", "-s", "app", "-x", "100", "-y", "30", *env_args, "bash", "-c", shell,
          socket=tmux_socket)
    screen = _wait_for(tmux_socket, "New run")
    for entry in ("New run", "History", "Models", "q Quit"):
        assert entry in screen
    _tmux("send-keys", "-t", "app", "h", socket=tmux_socket)
    _wait_for(tmux_socket, "No runs yet")
    _tmux("send-keys", "-t", "app", "Escape", socket=tmux_socket)
    _wait_for(tmux_socket, "Models       local GGUF models")
    _tmux("send-keys", "-t", "app", "q", socket=tmux_socket)
    screen = _wait_for(tmux_socket, "SHELL-BACK", timeout=30)
    assert marker.read_text().strip() == "0"
    # The alternate screen is gone: the menu is no longer drawn and the cursor is back for the shell.
    assert "New run" not in screen
    assert "History" not in screen
    cursor = _tmux("display-message", "-p", "-t", "app", "#{cursor_flag} #{alternate_on}", socket=tmux_socket)
    assert cursor.stdout.split() == ["1", "0"]


def test_without_a_terminal_it_fails_fast_with_one_line(home: Path) -> None:
    result = run_lesr("tui", home=home, timeout=60)
    assert result.returncode == 2
    assert "terminal" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    bare = run_lesr(home=home, timeout=60)  # `lesr` alone opens the app, so it fails the same way
    assert bare.returncode == 2 and "terminal" in bare.stderr


@pytest.mark.slow
def test_lesr_run_at_a_terminal_shows_the_live_view_and_cancels(tmp_path: Path, tmux_socket: str) -> None:
    """`lesr run` with a TTY opens the app on the Live run screen; c cancels (exit 130, resumable)."""
    home = tmp_path / "home"
    marker = tmp_path / "exit-status"
    run_cmd = (f"{shlex.quote(sys.executable)} -m lesr_local run --env InvertedPendulum-v5 --preset smoke "
               f"--no-video --home {shlex.quote(str(home))}")
    shell = f"cd {shlex.quote(str(PROJECT))} && {run_cmd}; echo $? > {shlex.quote(str(marker))}; " \
            f"echo SHELL-BACK; exec sleep 30"
    _tmux("new-session", "-d", "-s", "app", "-x", "100", "-y", "30", "-e", "MUJOCO_GL=egl", "-e",
          "TERM=xterm-256color", "bash", "-c", shell, socket=tmux_socket)
    screen = _wait_for(tmux_socket, "iteration 1/2", timeout=180)
    assert "c Cancel run" in screen and "Candidate" in screen
    _tmux("send-keys", "-t", "app", "c", socket=tmux_socket)
    _wait_for(tmux_socket, "interrupted", timeout=180)
    _tmux("send-keys", "-t", "app", "q", socket=tmux_socket)
    _wait_for(tmux_socket, "SHELL-BACK", timeout=60)
    assert marker.read_text().strip() == "130"
    history = run_lesr("history", "--json", home=home)
    assert history.returncode == 0, history.stderr
    assert '"interrupted"' in history.stdout
