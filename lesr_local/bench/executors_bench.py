"""`lesr bench executors`: the same batch of trainings on the local executor and on a local Ray cluster.

Each batch is `--trainings` TD3 trainings (the td3 bench's settings: a random warm-up, then
`--steps` training steps, evaluations, checkpoints and the policy streamed back to a temporary run
folder, as in a search), all submitted at once to an executor that runs one training per core with
one torch thread each. The aggregate rate is every env step of the batch over its wall time, submit
to last result, so every cost of an executor (process start, Ray scheduling, frames relayed through
Ray, files) is in it. Order local, Ray, local (A-B-A): load drift on the machine biases neither
side; the local rate is the mean of its two batches. Ray's cluster start is reported apart, as is
its memory: the RSS (and USS) of every Ray process (head services and idle workers) once the batch
is done.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from lesr_local.bench.td3_bench import WARMUP_STEPS, bench_configs
from lesr_local.envs.make import make_env
from lesr_local.errors import BadInput, RunFailed
from lesr_local.output import print_json
from lesr_local.procs import cpu_count
from lesr_local.rl.spec import TrainProgress, TrainResult, TrainSpec
from lesr_local.trainings.executors import Executor, LocalProcessExecutor, ray_installed


def run_executors_bench(args: argparse.Namespace) -> int:
    if args.trainings < 1 or args.steps < 1:
        raise BadInput("--trainings and --steps must be at least 1")
    if not ray_installed():
        raise BadInput("lesr bench executors needs Ray, which is not installed: pip install 'lesr-local[ray]'")
    make_env(args.env).close()  # BadInput for an unknown env before anything is spawned
    from lesr_local.trainings.ray_executor import (
        RayExecutor,  # imports Ray: installed only with the ray extra
    )

    cores = cpu_count()
    with tempfile.TemporaryDirectory(prefix="lesr-bench-exec-") as folder:
        root = Path(folder)
        local = [_batch(LocalProcessExecutor(cores), args, root / "local-a")]
        started = time.perf_counter()
        ray_executor = RayExecutor("local", threads=1)
        cluster_start_s = time.perf_counter() - started
        try:
            ray_batch = _batch(ray_executor, args, root / "ray", close=False)
            time.sleep(2.0)  # trainings' children gone, workers idle
            memory = _ray_memory()
            memory["cpu_s_since_start"] = _ray_cpu_seconds()
        finally:
            ray_executor.close()
        local.append(_batch(LocalProcessExecutor(cores), args, root / "local-b"))
    local_rate = statistics.fmean(b["steps_per_s"] for b in local)
    payload: dict[str, Any] = {
        "env": args.env, "trainings": args.trainings, "steps": args.steps, "warmup_steps": WARMUP_STEPS,
        "concurrent": cores, "torch_threads_per_training": 1,
        "local_steps_per_s": round(local_rate, 2),
        "local_runs_steps_per_s": [b["steps_per_s"] for b in local],
        "ray_steps_per_s": ray_batch["steps_per_s"],
        "ratio": round(ray_batch["steps_per_s"] / max(local_rate, 1e-9), 3),
        "goal_ratio": 0.9,
        "local_first_progress_s": _mean_of(local, "first_progress_s"),
        "ray_first_progress_s": ray_batch["first_progress_s"],
        "first_progress": ("seconds from submit to the first progress event, mean over the first "
                           f"{cores} trainings (the ones that start at once; the rest queue)"),
        "ray_cluster_start_s": round(cluster_start_s, 2),
        "ray_memory": memory,
        "local": local, "ray": ray_batch,
        "baseline": ("the local executor (one sandboxed subprocess per training) on the same batch in the "
                     "same run, before and after Ray (A-B-A); ratio = Ray's aggregate env steps/s over "
                     "the mean of the two local batches"),
        "load_average_1m": round(psutil.getloadavg()[0], 2),
    }
    if args.json:
        print_json(payload)
    else:
        for key, value in payload.items():
            if key not in ("local", "ray"):
                print(f"{key:28s} {value}")
    return 0


def _batch(executor: Executor, args: argparse.Namespace, folder: Path, close: bool = True) -> dict[str, Any]:
    """Submit every training at once; wall time from the first submit to the last result."""
    td3, evaluation = bench_configs()
    total = WARMUP_STEPS + args.steps
    first_progress: dict[int, float] = {}
    lock = threading.Lock()
    started = time.perf_counter()

    def on_progress(index: int, submitted: float, _: TrainProgress) -> None:
        with lock:
            first_progress.setdefault(index, time.perf_counter() - submitted)

    futures = []
    concurrent = min(args.trainings, executor.workers)
    try:
        for i in range(args.trainings):
            spec = TrainSpec(env_id=args.env, steps=total, seed=i, learner=td3, eval=evaluation, threads=1,
                             workers=executor.workers, checkpoint_dir=folder / f"t{i}",
                             checkpoint_every=max(evaluation.every, total // 20),
                             policy_path=folder / f"t{i}.safetensors")
            submitted = time.perf_counter()
            futures.append(executor.submit(spec, lambda p, i=i, s=submitted: on_progress(i, s, p), None))
        results: list[TrainResult] = [f.result() for f in futures]
        wall = time.perf_counter() - started
    finally:
        if close:
            executor.close()
    failed = [r for r in results if r.status != "finished"]
    if failed:
        raise RunFailed(f"benchmark training failed on the {executor.name} executor: {failed[0].reason}")
    steps = sum(r.steps for r in results)
    return {
        "executor": executor.name, "wall_s": round(wall, 2), "env_steps": steps,
        "steps_per_s": round(steps / wall, 2),
        "train_steps_per_s": [round(r.train_steps_per_s, 2) for r in results],
        "first_progress_s": _first_wave(first_progress, concurrent),
        "first_progress_all_s": [round(first_progress[i], 2) for i in sorted(first_progress)],
    }


def _ray_memory() -> dict[str, Any]:
    """RSS and USS of the private cluster's processes: all children of this driver (head services,
    node agents, idle workers)."""
    rss = uss = 0
    count = 0
    for proc in psutil.Process().children(recursive=True):
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        rss += info.rss
        uss += info.uss
        count += 1
    return {"processes": count, "rss_mb": round(rss / 2**20, 1), "uss_mb": round(uss / 2**20, 1)}


def _first_wave(first_progress: dict[int, float], concurrent: int) -> float | None:
    values = sorted(first_progress.values())[:concurrent]
    return round(statistics.fmean(values), 2) if values else None


def _ray_cpu_seconds() -> float:
    """CPU seconds the cluster's own processes (services and Ray workers, not the training
    children) used since the cluster started: Ray's share of the cores during the batch."""
    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            if "lesr_local.sandbox.entry" in " ".join(proc.cmdline()):
                continue
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return round(total, 1)


def _mean_of(batches: list[dict[str, Any]], key: str) -> float | None:
    values = [b[key] for b in batches if b[key] is not None]
    return round(statistics.fmean(values), 2) if values else None
