"""Training workers forked from the fork server: as isolated as workers started on their own, the
same numbers, and a fallback to starting them on their own wherever the server cannot serve."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from lesr_local.rl.client import run_training, training_env
from lesr_local.rl.spec import TrainProgress, TrainResult
from lesr_local.sandbox import forkserver
from tests.test_rl_worker import GOOD, spec_for


def _namespace(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def _fd_targets(pid: int) -> list[str]:
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return targets


def _train_in_background(spec, seen: dict[str, object], cancel: threading.Event) -> threading.Thread:
    def run() -> None:
        seen["result"] = run_training(spec, lambda p: seen.setdefault("progress", p),
                                      cancel=cancel, on_pid=lambda pid: seen.setdefault("pid", pid))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_for(what: str, check, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_forked_workers_have_their_own_namespaces_and_no_handle_on_the_server(tmp_path: Path) -> None:
    cancels = [threading.Event(), threading.Event()]
    runs: list[dict[str, object]] = [{}, {}]
    threads = [_train_in_background(spec_for(tmp_path / str(i), 200_000, GOOD), runs[i], cancels[i])
               for i in range(2)]
    try:
        _wait_for("both trainings under way", lambda: all("progress" in r for r in runs))
        pids = [int(r["pid"]) for r in runs]  # type: ignore[call-overload]
        servers = {psutil.Process(pid).ppid() for pid in pids}
        assert len(servers) == 1
        server = psutil.Process(servers.pop())
        assert "lesr_local.sandbox.zygote" in " ".join(server.cmdline()) and server.ppid() == os.getpid()
        for pid in pids:
            title = " ".join(psutil.Process(pid).cmdline())
            assert "lesr_local.sandbox.entry" in title and f" train {server.pid}" in title  # as `ps` shows it
            assert "zygote" not in title
            # Nothing of the server's: no control socket, no pidfd of a sibling.
            handles = _fd_targets(pid)
            assert not [t for t in handles if t.startswith("socket:") or "pidfd" in t], handles
            assert psutil.Process(pid).num_threads() >= 1
        # Each worker in fresh namespaces of its own: not the engine's, not the server's, not a sibling's.
        for kind in ("user", "net", "mnt", "ipc"):
            seen = {_namespace(os.getpid(), kind), _namespace(server.pid, kind)}
            assert len(seen) == 1  # the server itself is not sandboxed: it runs no candidate code
            workers = {_namespace(pid, kind) for pid in pids}
            assert len(workers) == 2 and not workers & seen, kind
    finally:
        for cancel in cancels:
            cancel.set()
        for thread in threads:
            thread.join(60)
    assert all(r["result"].status == "cancelled" for r in runs)  # type: ignore[union-attr]


def test_forked_and_spawned_trainings_give_the_same_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = spec_for(tmp_path, 900, GOOD)
    forked_parents: list[int] = []
    forked = run_training(spec, on_pid=lambda pid: forked_parents.append(psutil.Process(pid).ppid()))
    monkeypatch.setenv("LESR_FORK_SERVER", "0")
    spawned_parents: list[int] = []
    spawned = run_training(spec, on_pid=lambda pid: spawned_parents.append(psutil.Process(pid).ppid()))
    assert forked_parents != [os.getpid()] and spawned_parents == [os.getpid()]  # forked, then not
    assert forked.status == spawned.status == "finished", (forked.reason, spawned.reason)
    assert (forked.curve, forked.score, forked.lipschitz) == (spawned.curve, spawned.score, spawned.lipschitz)
    assert forked.walls == spawned.walls and forked.walls  # the same walls went up in both


def test_an_environment_the_server_cannot_serve_in_starts_workers_on_their_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # OpenBLAS with two threads starts a thread at import: a fork would copy only one of them.
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    env = training_env()
    assert forkserver.launch("train", env) is None
    key = ("train", tuple(sorted(env.items())))
    assert "threads" in forkserver._refused[key]
    parents: list[int] = []
    result = run_training(spec_for(tmp_path, 400, GOOD), on_pid=lambda pid: parents.append(psutil.Process(pid).ppid()))
    assert result.status == "finished", result.reason
    assert parents == [os.getpid()]  # started on its own, as our child


def test_a_killed_server_fails_its_running_training_and_the_next_one_gets_a_new_server(tmp_path: Path) -> None:
    cancel = threading.Event()
    seen: dict[str, object] = {}
    thread = _train_in_background(spec_for(tmp_path / "a", 200_000, GOOD), seen, cancel)
    _wait_for("the training under way", lambda: "progress" in seen)
    server = psutil.Process(psutil.Process(int(seen["pid"])).ppid())  # type: ignore[call-overload]
    assert "sandbox.zygote" in " ".join(server.cmdline())
    server.send_signal(signal.SIGKILL)
    thread.join(60)
    result: TrainResult = seen["result"]  # type: ignore[assignment]
    assert result.status == "failed" and "SIGKILL" in (result.reason or ""), result.reason
    again: list[int] = []
    progress: list[TrainProgress] = []
    second = run_training(spec_for(tmp_path / "b", 400, GOOD), progress.append, on_pid=again.append)
    assert second.status == "finished", second.reason
    assert again[0] != int(seen["pid"])  # type: ignore[call-overload]
