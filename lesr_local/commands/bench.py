"""`lesr bench llm|td3`: performance figures as JSON (speed goals are checked here, not in tests)."""

from __future__ import annotations

import argparse

from lesr_local.cli import add_home_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="measure LLM, TD3 or executor performance")
    add_home_option(parser)
    kinds = parser.add_subparsers(dest="bench_kind", metavar="KIND", required=True)

    llm = kinds.add_parser("llm", help="load time, prompt/generation speed, valid-candidate rate")
    add_home_option(llm)
    llm.add_argument("--model", default=None, help="model path or name (default: discovery order)")
    llm.add_argument("--env", default="HalfCheetah-v5", help="env whose prompt is used")
    llm.add_argument("--samples", type=int, default=6, help="candidates to generate")
    llm.add_argument("--max-tokens", type=int, default=700)
    llm.add_argument("--constrain", choices=["auto", "on", "off"], default="auto")
    llm.add_argument("--seed", type=int, default=0)
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
    td3.add_argument("--json", action="store_true", help="one JSON line on stdout")
    td3.set_defaults(func=_bench_td3)

    executors = kinds.add_parser("executors", help="the same trainings on the local executor and on a local Ray cluster")
    add_home_option(executors)
    executors.add_argument("--env", default="HalfCheetah-v5")
    executors.add_argument("--trainings", type=int, default=4, help="trainings per batch (all submitted at once)")
    executors.add_argument("--steps", type=int, default=3000, help="training steps per training (after warm-up)")
    executors.add_argument("--json", action="store_true", help="one JSON line on stdout")
    executors.set_defaults(func=_bench_executors)


def _bench_llm(args: argparse.Namespace) -> int:
    from lesr_local.bench.llm_bench import run_llm_bench

    return run_llm_bench(args)


def _bench_td3(args: argparse.Namespace) -> int:
    from lesr_local.bench.td3_bench import run_td3_bench

    return run_td3_bench(args)


def _bench_executors(args: argparse.Namespace) -> int:
    from lesr_local.bench.executors_bench import run_executors_bench

    return run_executors_bench(args)
