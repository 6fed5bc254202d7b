"""Core slots shared by separate processes: real lock files, real processes (fast)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from lesr_local.core_slots import claim_cores, slots_dir, threads_for


def test_claims_take_free_slots_only_and_give_them_back(tmp_path: Path) -> None:
    first = claim_cores(2, 3, tmp_path)
    second = claim_cores(3, 3, tmp_path)  # its own lock files: as another process would hold them
    third = claim_cores(3, 3, tmp_path)
    assert (first.held, second.held, third.held) == ([0, 1], [2], [])
    assert (threads_for(first), threads_for(second), threads_for(third)) == (2, 1, 1)
    first.release()
    with claim_cores(3, 3, tmp_path) as again:
        assert again.held == [0, 1]
    second.release()
    assert claim_cores(3, 3, tmp_path).held == [0, 1, 2]


def test_a_killed_process_leaves_its_cores_free(tmp_path: Path) -> None:
    code = ("import sys, time; from pathlib import Path; from lesr_local.core_slots import claim_cores;"
            f"c = claim_cores(2, 2, Path({str(tmp_path)!r})); print(c.held, flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "[0, 1]"
        assert claim_cores(2, 2, tmp_path).held == []
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert claim_cores(2, 2, tmp_path).held == [0, 1]


def test_requested_threads_win_and_an_unusable_folder_shares_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    claim = claim_cores(4, 4, blocker / "slots")
    assert not claim.usable and claim.held == []
    assert threads_for(claim) == 4  # as before slots existed: all cores
    assert threads_for(claim_cores(4, 4, tmp_path / "ok"), requested=3) == 3


def test_slots_live_in_the_runtime_dir_when_there_is_one(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert slots_dir() == tmp_path / "lesr-local" / "core-slots"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert slots_dir().name == "core-slots" and "lesr-local" in slots_dir().parts
