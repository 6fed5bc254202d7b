"""The Ray executor on a real cluster started here: a head (2 CPUs) and a second node (1 CPU) on
loopback, each its own `ray start` process tree and temporary folder, torn down even when a test
fails. Runs go through the real CLI: the LLM, the sandboxed training workers, SQLite."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest

from lesr_local.rl.checkpoint import has_checkpoint
from lesr_local.store import Store, TrainingRecord
from tests.conftest import run_lesr, spawn_lesr, wait_for
from tests.helpers_ray import RayCluster, free_port

# One search candidate, a raw-state control and one final seed each; search trainings long enough
# (SEARCH_STEPS steps, a checkpoint every 300) to be interrupted mid-way.
SEARCH_STEPS = 4000
RUN = ["run", "--env", "InvertedPendulum-v5", "--preset", "smoke", "--samples", "1", "--iterations", "1",
       "--seeds", "1", "--steps", str(SEARCH_STEPS), "--final-steps", "1200", "--headless", "--json"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    ray_cluster = RayCluster()
    try:
        ray_cluster.start_head(cpus=2)
        ray_cluster.add_node(cpus=1)
        ray_cluster.wait_ready()
        yield ray_cluster
    finally:
        ray_cluster.stop()


def _runs(home: Path) -> list[Any]:
    if not (home / "lesr.sqlite3").exists():
        return []
    with Store(home) as store:
        return store.list_runs()


def _training_with_checkpoint(home: Path, min_steps: int) -> Callable[[], TrainingRecord | None]:
    """A running training on the cluster that has trained `min_steps` and holds a checkpoint."""

    def check() -> TrainingRecord | None:
        runs = _runs(home)
        if not runs:
            return None
        with Store(home) as store:
            for cand in store.list_trainings(runs[0].run_id):
                if (cand.status == "running" and cand.steps_done >= min_steps and cand.worker_pid
                        and cand.node and has_checkpoint(Path(cand.checkpoint_dir or "/nonexistent"))):
                    return cand
        return None

    return check


def _node_of(cluster: RayCluster, pid: int) -> Any:
    return next(node for node in cluster.nodes if pid in {p.pid for p in node.processes()})


def _show(home: Path, run_id: str) -> dict[str, Any]:
    proc = run_lesr("show", run_id, "--json", home=home, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _training_children(cluster: RayCluster) -> list[psutil.Process]:
    found = []
    for node in cluster.nodes:
        for proc in node.processes():
            try:
                if "lesr_local.sandbox.entry" in " ".join(proc.cmdline()):
                    found.append(proc)
            except psutil.Error:
                continue
    return found


# -- bad input: one line, exit 2, nothing stored ---------------------------------------------------


def test_unreachable_address_is_bad_input(home: Path) -> None:
    proc = run_lesr(*RUN, "--executor", "ray", "--ray-address", f"127.0.0.1:{free_port()}", home=home)
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach the Ray cluster" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert _runs(home) == []


def test_ray_executor_without_ray_installed_is_bad_input(home: Path, tmp_path: Path) -> None:
    hide = tmp_path / "hide_ray"
    hide.mkdir()
    # sys.modules["ray"] = None makes `import ray` fail and find_spec("ray") answer None, as when
    # Ray is not installed at all.
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['ray'] = None\n")
    root = Path(__file__).resolve().parents[1]
    env = {"PYTHONPATH": os.pathsep.join([str(hide), str(root)])}
    proc = run_lesr(*RUN, "--executor", "ray", home=home, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "needs Ray" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert _runs(home) == []
    doctor = json.loads(run_lesr("doctor", "--no-llm-run", "--json", home=home, env=env).stdout)
    ray_check = next(c for c in doctor["checks"] if c["name"] == "ray")
    assert ray_check["data"] == {"installed": False}


def test_cluster_with_too_few_cpus_per_node_is_bad_input(home: Path, cluster: RayCluster) -> None:
    proc = run_lesr(*RUN, "--executor", "ray", "--ray-address", cluster.address, "--train-threads", "3",
                    home=home, env=cluster.env())
    assert proc.returncode == 2, proc.stderr
    assert "at most 2 CPUs on a node; one training needs 3" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert _runs(home) == []


def test_doctor_lists_the_cluster_nodes(home: Path, cluster: RayCluster) -> None:
    proc = run_lesr("doctor", "--no-llm-run", "--json", "--ray-address", cluster.address, home=home,
                    env=cluster.env())
    ray_check = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "ray")
    assert ray_check["ok"], ray_check
    assert sorted(n["cpus"] for n in ray_check["data"]["nodes"]) == [1.0, 2.0]


def test_doctor_presents_the_token_from_the_default_path_with_no_auth_mode_exported(
        home: Path, cluster: RayCluster, tmp_path: Path) -> None:
    """A cluster started by hand with token authentication, its token copied to ~/.ray/auth_token on
    this machine, nothing exported: lesr-local switches token mode on by itself."""
    user_home = tmp_path / "user"
    (user_home / ".ray").mkdir(parents=True)
    (user_home / ".ray" / "auth_token").write_text(cluster.token_file.read_text())
    env = {k: v for k, v in cluster.env().items() if k != "RAY_AUTH_TOKEN_PATH"}
    env["HOME"] = str(user_home)
    proc = run_lesr("doctor", "--no-llm-run", "--json", "--ray-address", cluster.address, home=home, env=env)
    ray_check = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "ray")
    assert ray_check["ok"], ray_check
    assert sorted(n["cpus"] for n in ray_check["data"]["nodes"]) == [1.0, 2.0]


def test_doctor_names_a_missing_token_in_one_line_and_exits_2(home: Path, cluster: RayCluster,
                                                               tmp_path: Path) -> None:
    user_home = tmp_path / "user"
    user_home.mkdir()
    env = {k: v for k, v in cluster.env().items() if k != "RAY_AUTH_TOKEN_PATH"}
    env["HOME"] = str(user_home)
    proc = run_lesr("doctor", "--no-llm-run", "--ray-address", cluster.address, home=home, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[FAIL] ray:")]
    assert len(lines) == 1 and "no Ray auth token on this machine" in lines[0], proc.stdout
    assert "copy the head's ~/.ray/auth_token" in lines[0]
    assert not (user_home / ".ray").exists()  # nothing written into the user's home


# -- runs on the cluster -----------------------------------------------------------------------------


@pytest.mark.slow
def test_run_survives_killed_ray_workers_and_continues_from_the_checkpoint(home: Path, cluster: RayCluster) -> None:
    proc = spawn_lesr(home, *RUN, "--executor", "ray", "--ray-address", cluster.address, env=cluster.env())
    try:
        victim = wait_for("a training with a checkpoint", _training_with_checkpoint(home, 1500), proc, timeout=400)
        relay = psutil.Process(victim.worker_pid).ppid()  # the Ray worker process running the task
        node = _node_of(cluster, relay)
        workers = node.ray_workers()
        assert relay in {w.pid for w in workers}
        for worker in workers:  # every Ray worker process of that node
            worker.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "finished"
    assert summary["final"]["best"]["seeds"] == 1 and summary["final"]["baseline"]["seeds"] == 1
    assert summary["total_env_steps"] == 2 * SEARCH_STEPS + 2 * 1200
    detail = _show(home, summary["run_id"])
    assert detail["config"]["executor"] == "ray"
    trained = [c for c in detail["trainings"] if c["status"] == "finished"]
    assert len(trained) == 4
    for cand in trained:
        assert cand["executor"] == "ray" and len(cand["node"]) == 56, cand  # a Ray node id (hex)
    killed = next(c for c in trained if c["training_id"] == victim.training_id)
    assert 0 < killed["resumed_from"] < SEARCH_STEPS, killed  # continued from its checkpoint, not from step 0
    assert killed["steps_done"] == SEARCH_STEPS


@pytest.mark.slow
def test_cancel_stops_tasks_and_children_then_the_run_resumes_on_the_local_executor(
        home: Path, cluster: RayCluster) -> None:
    proc = spawn_lesr(home, *RUN, "--executor", "ray", "--ray-address", cluster.address, env=cluster.env())
    try:
        running = wait_for("a training with a checkpoint", _training_with_checkpoint(home, 1000), proc, timeout=400)
        assert _training_children(cluster)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C (and the TUI's `c`) does: set the cancel event
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-3000:]
    deadline = time.monotonic() + 60
    while (_training_children(cluster) or cluster.free_cpus() < 3.0) and time.monotonic() < deadline:
        time.sleep(1)
    assert _training_children(cluster) == []
    assert not psutil.pid_exists(running.worker_pid)
    assert cluster.free_cpus() == 3.0  # no Ray task holds a CPU any more

    run_id = _runs(home)[0].run_id
    resumed = run_lesr("run", "--resume", run_id, "--executor", "local", "--headless", "--json", home=home,
                       timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["status"] == "finished"
    detail = _show(home, run_id)
    assert detail["config"]["executor"] == "local"  # where the run went on
    continued = next(c for c in detail["trainings"] if c["training_id"] == running.training_id)
    assert continued["status"] == "finished" and continued["executor"] == "local"
    assert continued["node"] == os.uname().nodename
    assert continued["resumed_from"] > 0


# -- the two halves without a cluster ----------------------------------------------------------------


def _tiny_spec(folder: Path) -> Any:
    from lesr_local.config import EvalConfig, TD3Config
    from lesr_local.rl.spec import TrainSpec

    return TrainSpec(env_id="InvertedPendulum-v5", steps=600, seed=0, threads=1,
                     learner=TD3Config(hidden_sizes=(32, 32), start_steps=200, batch_size=32),
                     eval=EvalConfig(every=300, episodes=1, last_k=2, goal_episodes=1),
                     checkpoint_dir=folder / "ckpt", checkpoint_every=300, policy_path=folder / "policy.safetensors")


def test_relayed_frames_drive_the_same_supervision_as_a_local_training(tmp_path: Path) -> None:
    """The node half (rl.relay) run here, its frames fed to the driver half: files land at the
    driver's paths, progress and the result come through, the node's spec carried no path."""
    from lesr_local.rl.relay import RelayJob, relay_training
    from lesr_local.trainings.ray_executor import _RayTraining

    spec = _tiny_spec(tmp_path)
    job = RelayJob.of(spec)
    assert job.spec["checkpoint_dir"] is None and job.spec["policy_path"] is None
    placed: list[tuple[str, str]] = []
    progress: list[int] = []
    driver = _RayTraining(spec, 1, 60.0, lambda p: progress.append(p.step), threading.Event(),
                          None, None, lambda node, host: placed.append((node, host)))
    outcome = None
    for frame in relay_training(job, node="n1", host="h1"):
        outcome = driver._handle(frame)
        if outcome is not None:
            break
    assert outcome is not None and outcome.status == "finished", outcome
    assert "seccomp" in outcome.walls and "network-namespace" in outcome.walls  # from the node's walls message
    assert placed == [("n1", "h1")] and progress and progress[-1] <= 600
    assert outcome.policy_path == str(spec.policy_path) and spec.policy_path.is_file()
    assert has_checkpoint(spec.checkpoint_dir)

    # a resubmitted training: the driver's checkpoint goes to the node in chunks, never as one object
    import hashlib

    from lesr_local.rl.checkpoint import checkpoint_path
    from lesr_local.rl.relay import CheckpointStream
    from lesr_local.sandbox import protocol
    from lesr_local.sandbox.tensorfile import read_state
    from lesr_local.trainings.ray_executor import checkpoint_chunks

    saved = checkpoint_path(spec.checkpoint_dir)
    at_step = read_state(saved)["step"]
    chunks = list(checkpoint_chunks(saved))
    assert len(chunks) >= 1 and all(len(c) <= protocol.CHUNK_BYTES for c in chunks)
    assert b"".join(chunks) == saved.read_bytes()
    longer = replace(spec, steps=900, policy_path=tmp_path / "longer.safetensors")
    stream = CheckpointStream(saved.stat().st_size, hashlib.sha256(saved.read_bytes()).hexdigest(), iter(chunks))
    driver = _RayTraining(longer, 1, 60.0, None, threading.Event(), None, None, None)
    outcome = None
    for frame in relay_training(RelayJob.of(longer), node="n1", host="h1", checkpoint=stream):
        outcome = driver._handle(frame)
        if outcome is not None:
            break
    assert outcome is not None and outcome.status == "finished", outcome
    assert outcome.resumed_from == at_step > 0  # continued from the streamed checkpoint


def test_driver_refuses_frames_that_break_the_protocol(tmp_path: Path) -> None:
    from lesr_local.sandbox import protocol
    from lesr_local.sandbox.protocol import ProtocolError
    from lesr_local.trainings.ray_executor import _RayTraining

    driver = _RayTraining(_tiny_spec(tmp_path), 1, 60.0, None, threading.Event(), None, None, None)
    with pytest.raises(ProtocolError, match="not a frame"):
        driver._handle({"type": "result"})
    with pytest.raises(ProtocolError, match="unexpected kind"):
        driver._handle(protocol.encode("file_begin", file="../../etc/passwd", size=1))
    with pytest.raises(ProtocolError, match="unknown message type"):
        driver._handle(protocol.encode("shell", command="rm -rf /"))
    assert list(tmp_path.iterdir()) == []


def test_runs_of_one_process_share_its_ray_connection() -> None:
    """The TUI drives several runs at once: a second run joins the first's cluster, the first one
    leaving does not cut the second off, and another address is refused while connected."""
    import ray

    from lesr_local.errors import BadInput
    from lesr_local.trainings import ray_executor

    ray_executor.connect("local", num_cpus=1)
    try:
        ray_executor.connect("local")
        with pytest.raises(BadInput, match="already runs on the Ray cluster local"):
            ray_executor.connect(f"127.0.0.1:{free_port()}")
        ray_executor.disconnect()
        assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 1.0
    finally:
        ray_executor.disconnect()
    assert not ray.is_initialized()


def test_tui_shows_where_a_ray_run_and_its_trainings_ran(home: Path) -> None:
    from textual.widgets import Static

    from lesr_local.tui.app import LesrApp
    from lesr_local.tui.screens.candidate_detail import CandidateDetailScreen
    from tests.helpers_tui import async_test, make_finished_run, plain

    run_id = make_finished_run(home)
    with Store(home) as store:
        config = dict(store.get_run(run_id).config, executor="ray", ray_address="127.0.0.2:6379")
        store.set_run_config(run_id, config)
        store.set_placement(run_id, "i0-k0", "ray", "0123456789abcdef" * 3 + "01234567")
        trained = store.get_training(run_id, "i0-k0")
        store.finish_training(run_id, "i0-k0", score=trained.score, curve=trained.curve, lipschitz=trained.lipschitz,
                              dim_names=trained.dim_names, steps=1200, seconds=1.0, steps_per_s=1.0, policy_path=None,
                              resumed_from=600)

    @async_test
    async def check() -> None:
        app = LesrApp(home, preview=False)
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.press("h")
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            header = " ".join(plain(app.screen.query_one("#run-info", Static)).split())  # lines may wrap
            assert "on Ray (127.0.0.2:6379)" in header
            await pilot.press("down", "enter")
            await pilot.pause()
            assert isinstance(app.screen, CandidateDetailScreen)
            info = plain(app.screen.query_one("#cand-info", Static))
            assert "trained on Ray node 0123456789ab" in info and "continued from its checkpoint at step 600" in info

    check()
