"""`lesr bench td3 --compare sb3`: our TD3 and stable-baselines3's TD3, same settings, in one run.

A correctness and speed anchor for the hand-written TD3. Both train through the same sandboxed
worker (`rl.run_training`, algo "td3" vs "sb3-td3"), on the same env, steps, seeds, hyperparameters
(`td3_bench.bench_configs`: Fujimoto's TD3 defaults with a shorter warm-up) and evaluation protocol,
one training at a time with the machine's threads. The order alternates per seed (ours first on
even seeds, SB3 first on odd ones) so a drifting machine load favours neither. Returns that match
within seed noise say our TD3 learns like the library's; the steps/s ratio says what it saves.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

from lesr_local.bench.td3_bench import WARMUP_STEPS, bench_configs
from lesr_local.envs.make import make_env
from lesr_local.errors import BadInput, RunFailed
from lesr_local.experiments.statistics import SeedResult, compare
from lesr_local.output import print_json
from lesr_local.rl.algos import OWN_TD3, SB3_TD3
from lesr_local.rl.client import run_training
from lesr_local.rl.spec import TrainResult, TrainSpec

SIDES = {"ours": OWN_TD3, "sb3": SB3_TD3}


def run_sb3_compare(args: argparse.Namespace) -> int:
    seeds = args.seeds
    if args.steps < 1 or seeds < 1:
        raise BadInput("--steps and --seeds must be at least 1")
    make_env(args.env).close()  # BadInput for an unknown env before anything is spawned
    td3, evaluation = bench_configs()
    total = WARMUP_STEPS + args.steps
    results: dict[str, list[TrainResult]] = {side: [] for side in SIDES}
    for seed in range(seeds):
        order = list(SIDES) if seed % 2 == 0 else list(reversed(SIDES))
        for side in order:
            spec = TrainSpec(env_id=args.env, steps=total, seed=seed, learner=dataclasses.replace(td3),
                             eval=dataclasses.replace(evaluation), workers=1, algo=SIDES[side])
            result = run_training(spec)
            if result.status != "finished":
                raise RunFailed(f"{side} TD3 (seed {seed}) failed: {result.reason}")
            results[side].append(result)
    payload = compare_payload(args.env, args.steps, seeds, td3, evaluation, results)
    if args.json:
        print_json(payload)
    else:
        for key, value in payload.items():
            print(f"{key:24s} {value}")
    return 0


def compare_payload(env_id: str, steps: int, seeds: int, td3: Any, evaluation: Any,
                    results: dict[str, list[TrainResult]]) -> dict[str, Any]:
    finished = {side: {i: SeedResult(i, float(r.score), None) for i, r in enumerate(runs) if r.score is not None}
                for side, runs in results.items()}
    comparison = compare(finished["ours"], finished["sb3"])  # paired by seed, as the final evaluation
    stats = comparison.final_dict()
    sides: dict[str, Any] = {}
    for side, key in (("ours", "best"), ("sb3", "baseline")):
        runs = results[side]
        rates = [r.train_steps_per_s for r in runs]
        sides[side] = {
            **{k: v for k, v in stats[key].items() if k != "per_seed"},
            "per_seed": [{"seed": i, "score": r.score, "train_steps_per_s": round(r.train_steps_per_s, 2)}
                         for i, r in enumerate(runs)],
            "steps_per_s": round(sum(rates) / len(rates), 2),
        }
    ours, sb3 = sides["ours"], sides["sb3"]
    return {
        "env": env_id, "steps": steps, "warmup_steps": WARMUP_STEPS, "seeds": seeds,
        "hyperparameters": dataclasses.asdict(td3), "eval": dataclasses.asdict(evaluation),
        "ours": ours, "sb3": sb3,
        "return_difference": stats["improvement"],  # mean over seeds of ours - sb3
        "return_difference_ci95": stats["improvement_ci95"],  # paired bootstrap over seeds
        # The label only: the search's sentence speaks of candidates and the raw-state baseline.
        "verdict": (f"ours vs SB3 returns: {comparison.verdict} at 95% over {len(comparison.paired_seeds)} "
                    "paired seeds" + ("; preliminary (fewer than 5 seeds)" if len(comparison.paired_seeds) < 5
                                      else "")),
        "speedup": round(ours["steps_per_s"] / max(sb3["steps_per_s"], 1e-9), 3),
        # per seed, the two trainings ran back to back: less exposed to machine-load drift than the means
        "per_seed_speedup": [round(a.train_steps_per_s / max(b.train_steps_per_s, 1e-9), 3)
                             for a, b in zip(results["ours"], results["sb3"], strict=False)],
        "baseline": ("stable-baselines3 TD3 with the same hyperparameters (net_arch, lr, batch, warm-up, "
                     "noise, delay, tau, gamma), env, steps, seeds and evaluation, one training at a time, "
                     "order alternating per seed; speedup = our training-phase steps/s / SB3's"),
        "device": results["ours"][0].device,
        "torch_threads": results["ours"][0].torch_threads,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
