"""`lesr bench llm|td3|checkpoint|search|reuse|executors`: performance figures as JSON (speed goals are
checked here, not in tests; docs/benchmarks.md keeps the measured runs)."""

from __future__ import annotations

import argparse

from lesr_local.cli import add_home_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="measure LLM, TD3 or executor performance")
    add_home_option(parser)
    kinds = parser.add_subparsers(dest="bench_kind", metavar="KIND", required=True)

    llm = kinds.add_parser("llm", help="load time, prompt/generation speed, valid-candidate rate")
    add_home_option(llm)
    llm.add_argument("--model", action="append", default=None, metavar="PATH|NAME",
                     help="model path or name (default: discovery order); repeat it, or give a comma "
                     "list, to bench several models in one run")
    llm.add_argument("--llm-url", default=None, metavar="URL",
                     help="also bench this llama.cpp server (loopback or your own network) beside the "
                          "in-process runtime on the same model file (its path from the server, or --model)")
    llm.add_argument("--env", default="HalfCheetah-v5", help="env whose prompt is used")
    llm.add_argument("--samples", type=int, default=6, help="candidates to generate")
    llm.add_argument("--max-tokens", type=int, default=700)
    llm.add_argument("--constrain", default="auto", metavar="auto|on|off[,...]",
                     help="grammar-constrained decoding; a comma list (on,off) benches each mode")
    llm.add_argument("--seed", type=int, default=0)
    llm.add_argument("--copy-rate", action="store_true",
                     help="how often a run's first candidate copies the format example: the earlier concrete "
                          "example vs the placeholder example, over --runs seeds per env of --envs")
    llm.add_argument("--runs", type=int, default=20, help="run seeds per env and example (--copy-rate)")
    llm.add_argument("--envs", default="HalfCheetah-v5,Hopper-v5", help="envs for --copy-rate (comma-separated)")
    llm.add_argument("--json", action="store_true", help="one JSON line on stdout")
    llm.set_defaults(func=_bench_llm)

    td3 = kinds.add_parser("td3", help="env steps/s of the trainer vs a reference-style loop")
    add_home_option(td3)
    td3.add_argument("--env", default="HalfCheetah-v5")
    td3.add_argument("--steps", type=int, default=3000, help="training steps per worker (after warm-up)")
    td3.add_argument("--workers", type=int, default=1)
    td3.add_argument("--features", default=None, help="candidate module (default: identity features)")
    td3.add_argument("--no-reference", action="store_true", help="skip the reference-style baseline loop")
    td3.add_argument("--compare-checks", action="store_true",
                     help="also train without the training-time candidate checks and report their cost")
    td3.add_argument("--compare", choices=["sb3"], default=None,
                     help="sb3: our TD3 vs stable-baselines3's TD3, same settings, returns and steps/s")
    td3.add_argument("--seeds", type=int, default=3, help="seeds per side with --compare (default 3)")
    td3.add_argument("--json", action="store_true", help="one JSON line on stdout")
    td3.set_defaults(func=_bench_td3)

    ckpt = kinds.add_parser("checkpoint", help="peak memory of worker and engine at a large checkpoint")
    add_home_option(ckpt)
    ckpt.add_argument("--env", default="Humanoid-v5")
    ckpt.add_argument("--rows", type=int, default=300_000, help="replay buffer rows at the checkpoint")
    ckpt.add_argument("--json", action="store_true", help="one JSON line on stdout")
    ckpt.set_defaults(func=_bench_checkpoint)

    search = kinds.add_parser("search", help="env steps successive halving saves on one fixed candidate set")
    add_home_option(search)
    search.add_argument("--env", default="HalfCheetah-v5")
    search.add_argument("--run", default=None, metavar="RUN_ID", help="replay the search candidates of this run")
    search.add_argument("--candidates", nargs="+", default=None, metavar="FILE.py", help="or these modules")
    search.add_argument("--samples", type=int, default=None, metavar="K", help="use the first K candidates only")
    search.add_argument("--preset", default="quick", choices=["smoke", "quick", "paper"],
                        help="TD3 / evaluation settings and N_small (default: quick)")
    search.add_argument("--steps", type=int, default=None, metavar="N_SMALL", help="steps per candidate")
    search.add_argument("--seed", type=int, default=0)
    search.add_argument("--workers", type=int, default=None, metavar="W", help="concurrent trainings")
    search.add_argument("--json", action="store_true", help="one JSON line on stdout")
    search.set_defaults(func=_bench_search)


    reuse = kinds.add_parser("reuse", help="trained vs reused env steps: two models on one env, then an ablation")
    add_home_option(reuse)
    reuse.add_argument("--env", default="HalfCheetah-v5")
    reuse.add_argument("--preset", default="quick", choices=["smoke", "quick", "paper"])
    reuse.add_argument("--seed", type=int, default=0)
    reuse.add_argument("--models", default=None, metavar="A,B",
                       help="the two models (default: the bundled default, then SmolLM2-135M-Instruct.Q4_1)")
    reuse.add_argument("--bench-home", default=None, metavar="DIR", help="a fresh folder (default: a new temp one)")
    reuse.add_argument("--no-check", action="store_true", help="skip retraining one reused training of each kind")
    reuse.add_argument("--json", action="store_true", help="one JSON line on stdout")
    reuse.set_defaults(func=_bench_reuse)

    executors = kinds.add_parser("executors", help="the same trainings on the local executor and on a local Ray cluster")
    add_home_option(executors)
    executors.add_argument("--env", default="HalfCheetah-v5")
    executors.add_argument("--trainings", type=int, default=4, help="trainings per batch (all submitted at once)")
    executors.add_argument("--steps", type=int, default=3000, help="training steps per training (after warm-up)")
    executors.add_argument("--json", action="store_true", help="one JSON line on stdout")
    executors.set_defaults(func=_bench_executors)


def _bench_reuse(args: argparse.Namespace) -> int:
    from lesr_local.bench.reuse_bench import bench_reuse, default_models
    from lesr_local.output import print_report

    models: list[str | None] = default_models() if args.models is None else [
        m.strip() or None for m in args.models.split(",")]
    payload = bench_reuse(args.env, args.preset, args.seed, models, args.bench_home, check=not args.no_check,
                          quiet=args.json)
    print_report(payload, args.json)
    return 0


def _bench_checkpoint(args: argparse.Namespace) -> int:
    from lesr_local.bench.checkpoint_bench import run_checkpoint_bench

    return run_checkpoint_bench(args)


def _bench_search(args: argparse.Namespace) -> int:
    from lesr_local.bench.search_bench import run_search_bench

    return run_search_bench(args)


def _bench_llm(args: argparse.Namespace) -> int:
    from lesr_local.bench.llm_bench import run_llm_bench

    return run_llm_bench(args)


def _bench_td3(args: argparse.Namespace) -> int:
    if args.compare == "sb3":
        from lesr_local.bench.sb3_compare import run_sb3_compare

        return run_sb3_compare(args)
    from lesr_local.bench.td3_bench import run_td3_bench

    return run_td3_bench(args)


def _bench_executors(args: argparse.Namespace) -> int:
    from lesr_local.bench.executors_bench import run_executors_bench

    return run_executors_bench(args)
