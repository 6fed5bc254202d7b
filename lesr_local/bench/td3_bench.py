"""`lesr bench td3`: env steps/s of our trainer (W concurrent workers) vs a reference-style loop.

Both run the same env and step counts: a random warm-up of WARMUP_STEPS, then `--steps` training
steps (one TD3 update per env step) with evaluations every EVAL_EVERY steps over EVAL_EPISODES
episodes (the paper's ratio of evaluation to training steps). Only the training phase is timed.
The reference runs alone in one process with the same torch thread setting as ours, once before and
once after ours (A-B-A, so a drifting machine load biases neither side); ours runs W sandboxed
training workers at once and reports their aggregate rate.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from lesr_local.config import EvalConfig, TD3Config
from lesr_local.envs.make import make_env
from lesr_local.errors import BadInput, RunFailed
from lesr_local.output import print_report
from lesr_local.procs import threads_per_worker
from lesr_local.rl.client import run_training, training_env
from lesr_local.rl.spec import TrainSpec
from lesr_local.sandbox.protocol import INT, LIST, NUM, STR, MessageSpec, ProtocolError, Schema, optional
from lesr_local.sandbox.supervisor import Worker, WorkerEnded

# The candidate `--compare-checks` uses when no --features file is given: cheap F and G that pass
# every check, so the measured difference is the cost of the checks themselves.
CHECKS_CANDIDATE = """import numpy as np


def revise_state(s):
    return np.concatenate([s, [np.linalg.norm(s), np.sum(s)]])


def intrinsic_reward(updated_s):
    return float(np.clip(0.01 * updated_s[-2], -1.0, 1.0))
"""
WARMUP_STEPS = 1000
EVAL_EVERY = 1000
EVAL_EPISODES = 2


def bench_configs() -> tuple[TD3Config, EvalConfig]:
    td3 = TD3Config(start_steps=WARMUP_STEPS)
    evaluation = EvalConfig(every=EVAL_EVERY, episodes=EVAL_EPISODES, last_k=10, goal_episodes=EVAL_EPISODES)
    return td3, evaluation


def run_td3_bench(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.workers < 1:
        raise BadInput("--steps and --workers must be at least 1")
    source = _read_features(args.features)
    if args.compare_checks and source is None:
        source = CHECKS_CANDIDATE
    make_env(args.env).close()  # BadInput for an unknown env before anything is spawned
    total = WARMUP_STEPS + args.steps
    references: list[dict[str, Any]] = []
    if not args.no_reference:  # A-B-A: reference before and after ours, so load drift cancels out
        references.append(_run_reference_subprocess(args.env, total, source))
    unchecked: list[Any] = []
    if args.compare_checks:  # A-B-A again: without checks, with (ours), without
        unchecked += _run_ours(args.env, total, source, args.workers, checks=False)
    ours = _run_ours(args.env, total, source, args.workers)
    if args.compare_checks:
        unchecked += _run_ours(args.env, total, source, args.workers, checks=False)
    if not args.no_reference:
        references.append(_run_reference_subprocess(args.env, total, source))
    failed = [r for r in ours + unchecked if r.status != "finished"]
    if failed:
        raise RunFailed(f"benchmark training failed: {failed[0].reason}")
    steps_per_s = sum(r.train_steps_per_s for r in ours)
    payload: dict[str, Any] = {
        "env": args.env, "steps": args.steps, "warmup_steps": WARMUP_STEPS, "workers": args.workers,
        "steps_per_s": round(steps_per_s, 2),
        "updates_per_s": round(sum(r.updates_per_s for r in ours), 2),
        "per_worker_steps_per_s": [round(r.train_steps_per_s, 2) for r in ours],
        "peak_rss_mb": round(max(r.peak_rss_mb for r in ours), 1),
        "peak_rss_mb_total": round(sum(r.peak_rss_mb for r in ours), 1),
        "reference_steps_per_s": None, "speedup": None,
        "baseline": ("reference-style TD3+LESR loop (separate critics, float64 numpy 1M-row buffer, "
                     "4 feature calls/step, cumulative Lipschitz, new eval env per evaluation) in 1 "
                     f"process with {threads_per_worker()} torch thread(s) (one per usable core, what "
                     "torch picks by default and what one of our workers gets), same env and steps, "
                     "run once before and once after ours (mean of the two); speedup = our aggregate "
                     "training-phase steps/s / the reference's"),
        "eval": {"every": EVAL_EVERY, "episodes": EVAL_EPISODES},
        "device": ours[0].device,
        "torch_threads_per_worker": ours[0].torch_threads,
        "reference_torch_threads": threads_per_worker(),
        "features": args.features or ("bench.td3_bench.CHECKS_CANDIDATE" if args.compare_checks else "identity"),
        "runtime_checks": True,
    }
    if unchecked:
        without = [sum(r.train_steps_per_s for r in unchecked[i:i + args.workers])
                   for i in range(0, len(unchecked), args.workers)]
        without_rate = sum(without) / len(without)
        payload["without_checks_steps_per_s"] = round(without_rate, 2)
        payload["without_checks_runs_steps_per_s"] = [round(r, 2) for r in without]
        payload["checks_cost"] = round(1.0 - steps_per_s / max(without_rate, 1e-9), 4)
        payload["checks_ratio"] = round(steps_per_s / max(without_rate, 1e-9), 4)
        # The same comparison per CPU-second of the workers: robust to whatever else loads the machine.
        with_cpu = sum(r.train_steps_per_cpu_s for r in ours)
        without_cpu = [sum(r.train_steps_per_cpu_s for r in unchecked[i:i + args.workers])
                       for i in range(0, len(unchecked), args.workers)]
        without_cpu_rate = sum(without_cpu) / len(without_cpu)
        payload["steps_per_cpu_s"] = round(with_cpu, 2)
        payload["without_checks_steps_per_cpu_s"] = round(without_cpu_rate, 2)
        payload["without_checks_runs_steps_per_cpu_s"] = [round(r, 2) for r in without_cpu]
        payload["checks_cpu_ratio"] = round(with_cpu / max(without_cpu_rate, 1e-9), 4)
    if references:
        rates = [r["train_steps_per_s"] for r in references]
        reference_rate = sum(rates) / len(rates)
        payload["reference_steps_per_s"] = round(reference_rate, 2)
        payload["reference_runs_steps_per_s"] = [round(r, 2) for r in rates]
        payload["speedup"] = round(steps_per_s / max(reference_rate, 1e-9), 3)
    payload["load_average_1m"] = round(os.getloadavg()[0], 2)
    print_report(payload, args.json)
    return 0


def _read_features(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise BadInput(f"cannot read features file {path}: {exc.strerror or exc}") from None


def _run_ours(env_id: str, total: int, source: str | None, workers: int, checks: bool = True) -> list[Any]:
    td3, evaluation = bench_configs()
    results: list[Any] = [None] * workers

    def one(i: int) -> None:
        spec = TrainSpec(env_id=env_id, steps=total, seed=i, candidate_source=source, learner=td3,
                         eval=evaluation, workers=workers, runtime_checks=checks)
        results[i] = run_training(spec)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


REFERENCE_SCHEMA = Schema("reference worker", {
    "result": MessageSpec(required={"train_steps_per_s": NUM, "train_seconds": NUM, "steps": INT,
                                    "train_steps": INT, "updates": INT, "curve": LIST}),
    "failed": MessageSpec(required={"reason": STR}),
})
REFERENCE_JOB = Schema("engine", {"reference": MessageSpec(
    required={"env_id": STR, "total": INT}, optional={"source": optional(STR)})}, max_string=200_000)


def _run_reference_subprocess(env_id: str, total: int, source: str | None) -> dict[str, Any]:
    env = training_env()  # the same OpenMP environment as our workers (fair)
    started = time.perf_counter()
    with Worker("reference", REFERENCE_SCHEMA, env=env) as worker:
        with contextlib.suppress(WorkerEnded):
            worker.send("reference", env_id=env_id, total=total, source=source)
        worker.close_input()
        message = None
        try:
            while message is None and worker.alive():
                message = worker.next(timeout=1.0)
            message = message or worker.next(timeout=1.0)
        except (WorkerEnded, ProtocolError) as exc:
            raise RunFailed(f"reference benchmark failed: {worker.death_reason('reference worker')} ({exc})") from None
        if message is None or message.type != "result":
            reason = message["reason"] if message is not None else worker.death_reason("reference worker")
            raise RunFailed(f"reference benchmark failed: {reason}")
        payload = {k: v for k, v in message.header.items() if k != "type"}
    payload["wall_seconds"] = time.perf_counter() - started
    return payload
