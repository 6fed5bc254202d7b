"""`lesr evaluate --env ID --features FILE.py`: the final evaluation alone, for any representation.

The file's F/G (after the same checks as the search's candidates) and the raw state are trained on
the same paired seeds; the statistics, verdict and JSON `final` block are a run's. The evaluation is
stored in the home as a run of kind "evaluation" (`lesr history`, `lesr show`), and its trainings are
reused like any other (search/evaluation_run.py).
"""

from __future__ import annotations

import argparse
import threading

from lesr_local.cli import add_home_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate a features file against the raw state on paired seeds")
    add_home_option(parser)
    parser.add_argument("--env", required=True, metavar="ID", help="environment id, e.g. HalfCheetah-v5")
    parser.add_argument("--features", required=True, metavar="FILE.py",
                        help="module with revise_state(s) and intrinsic_reward(updated_s) (e.g. from `lesr export`)")
    parser.add_argument("--preset", default="quick", choices=["smoke", "quick", "paper"],
                        help="training settings (default quick: its final steps and seeds)")
    parser.add_argument("--steps", type=int, default=None, metavar="N", help="steps per training (default: the preset's final steps)")
    parser.add_argument("--seeds", type=int, default=None, metavar="S", help="paired seeds (default: the preset's)")
    parser.add_argument("--seed", type=int, default=None, help="base seed (the seeds are seed+1 .. seed+S)")
    parser.add_argument("--shaping", default=None, choices=["additive", "potential"],
                        help="how G enters the reward (default: the preset's)")
    parser.add_argument("--intrinsic-weight", type=float, default=None, metavar="W", help="w (default: the preset's)")
    parser.add_argument("--env-spec", default=None, metavar="FILE", help="TOML description of an uncatalogued env")
    parser.add_argument("--workers", type=int, default=None, metavar="W", help="concurrent trainings")
    parser.add_argument("--no-reuse", action="store_true", help="train both arms afresh")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout (the run summary)")
    parser.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    from lesr_local.candidates.extract import drop_main_block
    from lesr_local.commands.candidate import read_candidate_file
    from lesr_local.commands.run import _stop_on_signals
    from lesr_local.config import preset, with_overrides
    from lesr_local.errors import RunFailed
    from lesr_local.output import print_json
    from lesr_local.search.evaluation_run import evaluate_representation
    from lesr_local.search.reporter import HeadlessReporter
    from lesr_local.store import Store
    from lesr_local.trainings.executors import LocalProcessExecutor, default_workers
    from lesr_local.workspace import home_from

    code = drop_main_block(read_candidate_file(args.features))
    config = with_overrides(
        preset(args.preset), env_id=args.env, final_steps=args.steps, seeds=args.seeds, seed=args.seed,
        shaping=args.shaping, intrinsic_weight=args.intrinsic_weight, env_spec=args.env_spec,
        workers=args.workers, reuse=False if args.no_reuse else None, render_video=False)
    home = home_from(args)
    reporter = HeadlessReporter()
    cancel = threading.Event()
    with Store(home) as store:
        executor = LocalProcessExecutor(config.workers or default_workers())
        try:
            with _stop_on_signals(cancel, reporter):
                summary = evaluate_representation(store, config, code, executor, reporter, cancel)
        finally:
            executor.close()
            reporter.close()
        payload = summary.to_dict()
        reporter.print_summary(payload, store.candidate_views(summary.run_id))
    if args.json:
        print_json(payload)
    if summary.status != "finished":
        raise RunFailed(f"evaluation {summary.run_id} {summary.status}: {summary.reason}")
    return 0
