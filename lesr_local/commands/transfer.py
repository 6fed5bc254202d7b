"""`lesr transfer RUN_ID --algo sac|ppo`: the run's best F/G vs the raw state with SB3's SAC or PPO (paper §4.5)."""

from __future__ import annotations

import argparse
import dataclasses
import threading
from typing import Any

from lesr_local.cli import add_home_option, add_unsafe_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "transfer", help="train a run's best features and the raw state with SAC or PPO over paired seeds")
    add_home_option(parser)
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument("--algo", required=True, metavar="sac|ppo", help="stable-baselines3 algorithm")
    parser.add_argument("--seeds", type=int, default=None, help="paired seeds (default: the run's final seeds)")
    parser.add_argument("--steps", type=int, default=None,
                        help="env steps per training (default: the run's final steps); they must go past the "
                             "warm-up, so that the last evaluation comes after it: SAC keeps the run's random "
                             "warm-up (td3.start_steps), PPO needs more than its first rollout (64 steps for "
                             "short trainings)")
    parser.add_argument("--workers", type=int, default=0, help="concurrent trainings (default: one per core)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--no-reuse", action="store_true",
                        help="train both arms afresh (default: identical trainings in the home are reused)")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    add_unsafe_option(parser)
    parser.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    from lesr_local.errors import Interrupted, RunFailed
    from lesr_local.experiments.transfer import plan_transfer, run_transfer
    from lesr_local.output import print_json
    from lesr_local.store import Store
    from lesr_local.trainings.executors import LocalProcessExecutor, default_workers
    from lesr_local.workspace import home_from

    with Store(home_from(args)) as store:
        plan = plan_transfer(store, args.run_id, args.algo, args.seeds, args.steps)
        if args.unsafe_no_seccomp:
            plan = dataclasses.replace(plan, config=dataclasses.replace(plan.config, unsafe_no_seccomp=True))
        jobs = 2 * len(plan.seeds)
        executor = LocalProcessExecutor(min(jobs, args.workers or default_workers()))
        cancel = threading.Event()
        progress = _Progress(quiet=args.json, plan=plan)
        try:
            result = run_transfer(store, plan, executor, device=args.device, on_progress=progress,
                                  on_done=progress.done, cancel=cancel,
                                  reuse=plan.config.reuse and not args.no_reuse)
        except KeyboardInterrupt:
            cancel.set()
            raise Interrupted(f"transfer {plan.transfer_id} interrupted; rerun the same command to continue it") \
                from None
        finally:
            executor.close()
            progress.close()
    if args.json:
        print_json({"run_id": plan.run_id, "env_id": plan.env_id, **result})
    else:
        print_report(plan.run_id, result)
    if result["status"] != "finished":
        failed = [s for arm in ("best", "raw") for s in result[arm]["per_seed"] if s["status"] != "finished"]
        reason = failed[0]["reason"] if failed else result["status"]
        raise RunFailed(f"transfer {result['transfer_id']}: {len(failed)} training(s) did not finish: {reason}")
    return 0


class _Progress:
    """One status line on stderr (rich) and a line per finished training; silent with --json."""

    def __init__(self, quiet: bool, plan: Any) -> None:
        self.quiet = quiet
        self.lock = threading.Lock()
        self.steps: dict[tuple[str, int], int] = {}
        self.total = 2 * len(plan.seeds) * plan.steps
        self._status: Any = None
        if not quiet:
            from rich.console import Console

            self.console = Console(stderr=True, markup=False)  # reasons and ids come from the store
            verb = "continuing" if plan.continued else "starting"
            self.console.print(f"{verb} transfer {plan.transfer_id}: {plan.algo.upper()} on {plan.env_id}, "
                               f"best ({plan.source_candidate_id}) and raw state, seeds "
                               f"{', '.join(map(str, plan.seeds))}, {plan.steps} steps each")
            self._status = self.console.status("starting the training workers ...")
            self._status.start()

    def __call__(self, arm: str, seed: int, progress: Any) -> None:
        if self.quiet:
            return
        with self.lock:
            self.steps[(arm, seed)] = progress.step
            done = sum(self.steps.values())
            self._status.update(f"{done}/{self.total} env steps ({100 * done / max(self.total, 1):.0f}%)")

    def done(self, arm: str, seed: int, result: Any) -> None:
        if self.quiet:
            return
        score = "-" if result.score is None else f"{result.score:.2f}"
        note = "" if result.status == "finished" else f" ({result.status}: {result.reason})"
        label = "best" if arm == "candidate" else "raw state"
        reused = f" (reused from {result.reused_from_run})" if getattr(result, "reused_from_training", None) else ""
        self.console.print(f"{label} seed {seed}: score {score}{note}{reused}", markup=False, highlight=False)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()


def print_report(run_id: str, report: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    console.print(transfer_text(report), markup=False, highlight=False)


def transfer_text(report: dict[str, Any]) -> str:
    """A transfer in a few lines (also what `lesr show` prints): the difference with both intervals the
    verdict rests on and its label, then the verdict sentence."""
    from lesr_local.experiments.comparison_text import comparison_text

    def arm(a: dict[str, Any]) -> str:
        if a["mean"] is None:
            return "-"
        return f"{a['mean']:.2f}" + ("" if a["std"] is None else f" ± {a['std']:.2f}")

    def seeds(a: dict[str, Any]) -> str:
        return ", ".join(f"s{s['seed']} " + ("-" if s["score"] is None else f"{s['score']:.2f}")
                         for s in a["per_seed"])

    comparison = comparison_text(report["improvement"], report.get("improvement_relative"),
                                 report["improvement_ci95"], report.get("improvement_ci95_t"),
                                 report.get("verdict_label"))
    return "\n".join([
        f"transfer {report['transfer_id']} — {report['algo'].upper()}, {report['steps']} steps × "
        f"{len(report['seeds'])} seeds, {report.get('shaping') or 'additive'} shaping of the run's G — "
        f"{report['status']}",
        f"  best ({report['source_candidate_id']}): {arm(report['best'])}   [{seeds(report['best'])}]",
        f"  raw state: {arm(report.get('raw') or report['baseline'])}   [{seeds(report.get('raw') or report['baseline'])}]",
        f"  {comparison}; {report['env_steps']} env steps",
        f"  {report['verdict']}",
    ])
