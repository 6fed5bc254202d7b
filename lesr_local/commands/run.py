"""`lesr run`: start (or `--resume`) a LESR search; live TUI at a terminal, rich progress otherwise."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from lesr_local.cli import add_home_option, add_unsafe_option
from lesr_local.errors import BadInput
from lesr_local.procs import has_terminal

# flag -> RunConfig key (dotted keys reach nested sections)
_OVERRIDES = {
    "env": "env_id", "samples": "samples", "iterations": "iterations", "steps": "steps",
    "final_steps": "final_steps", "seeds": "seeds", "workers": "workers", "model": "llm.model",
    "intrinsic_weight": "intrinsic_weight", "temperature": "llm.temperature", "constrain": "llm.constrain",
    "env_spec": "env_spec", "seed": "seed", "shaping": "shaping", "prune": "prune",
    "select_seeds": "select_seeds", "train_threads": "train_threads", "llm_url": "llm.url",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run a LESR search (LLM features + TD3) and the final evaluation")
    add_home_option(parser)
    parser.add_argument("--env", default=None, metavar="ID", help="environment id, e.g. HalfCheetah-v5")
    parser.add_argument("--preset", default=None, choices=["smoke", "quick", "paper"],
                        help="settings to start from (default: quick, or the config file's)")
    parser.add_argument("--config", default=None, metavar="FILE.toml", help="TOML settings over the preset")
    parser.add_argument("--model", default=None, metavar="PATH|NAME", help="GGUF model (default: discovery order)")
    parser.add_argument("--llm-url", default=None, metavar="URL",
                        help="a llama.cpp server (llama-server or python -m llama_cpp.server) to use instead of "
                             "a model file: an IP address on loopback or your own network (e.g. "
                             "http://192.168.1.20:8080); anything else is refused")
    parser.add_argument("--samples", type=int, default=None, metavar="K", help="candidates per iteration")
    parser.add_argument("--iterations", type=int, default=None, metavar="I", help="search iterations")
    parser.add_argument("--steps", type=int, default=None, metavar="N_SMALL", help="TD3 steps per candidate")
    parser.add_argument("--final-steps", type=int, default=None, metavar="N", help="TD3 steps per final seed")
    parser.add_argument("--seeds", type=int, default=None, metavar="S", help="seeds of the final evaluation")
    parser.add_argument("--seed", type=int, default=None, help="base seed (search trainings use it)")
    parser.add_argument("--workers", type=int, default=None, metavar="W",
                        help="concurrent trainings (default: the core count)")
    parser.add_argument("--executor", default=None, choices=["local", "ray"],
                        help="where trainings run: local processes (default) or Ray tasks on a cluster")
    parser.add_argument("--ray-address", default=None, metavar="HOST:PORT|auto|local",
                        help="Ray cluster for --executor ray (default: $RAY_ADDRESS, else a private local one)")
    parser.add_argument("--train-threads", type=int, default=None, metavar="T",
                        help="torch threads per training (= Ray CPUs per task; default: auto, 1 on Ray)")
    parser.add_argument("--intrinsic-weight", type=float, default=None, metavar="W",
                        help="w in r + w * G(F(s'))")
    parser.add_argument("--shaping", default=None, choices=["additive", "potential"],
                        help="how G enters the reward: r + w*G(F(s')) (additive, the paper) or "
                             "r + w*(gamma*G(F(s')) - G(F(s))) (potential: cannot change the optimal policy); "
                             "default: the preset's (quick: potential, smoke and paper: additive)")
    parser.add_argument("--temperature", type=float, default=None, help="LLM sampling temperature")
    parser.add_argument("--constrain", default=None, choices=["auto", "on", "off"],
                        help="grammar-constrained decoding")
    parser.add_argument("--prune", default=None, choices=["none", "halving"],
                        help="successive halving of each iteration's candidates (default: halving for quick and paper)")
    parser.add_argument("--select-seeds", type=int, default=None, metavar="S2",
                        help="re-train the top search candidates and the control on S2 fresh seeds before "
                             "choosing the best (0 = pick on the single search seed; quick: 1, paper: 2)")
    parser.add_argument("--env-spec", default=None, metavar="FILE", help="TOML description of an uncatalogued env")
    parser.add_argument("--no-video", action="store_true", help="skip the video of the best candidate")
    parser.add_argument("--resume", default=None, metavar="RUN_ID",
                        help="continue a stopped or killed run; with --seeds S on a finished run: add paired seeds "
                             "to its final evaluation, training only what is missing")
    parser.add_argument("--no-reuse", action="store_true",
                        help="train everything afresh instead of reusing identical trainings already in the home")
    parser.add_argument("--headless", action="store_true", help="no TUI: progress on stderr (automatic without a TTY)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line on stdout")
    add_unsafe_option(parser)
    parser.set_defaults(func=_handle)


def build_config(args: argparse.Namespace) -> Any:
    """Preset < --config FILE < flags."""
    from lesr_local.config import load_toml, preset, with_overrides

    if args.env is None and args.config is None:
        raise BadInput("lesr run needs --env ID (or --config FILE.toml, or --resume RUN_ID)")
    if args.config is not None:
        config = load_toml(args.config, base=preset(args.preset) if args.preset else None)
    else:
        config = preset(args.preset or "quick")
    overrides = {key: getattr(args, flag) for flag, key in _OVERRIDES.items()}
    if args.no_video:
        overrides["render_video"] = False
    if args.no_reuse:
        overrides["reuse"] = False
    if args.unsafe_no_seccomp:
        overrides["unsafe_no_seccomp"] = True
    return with_overrides(config, **overrides)


def _with_executor(config: Any, args: argparse.Namespace) -> Any:
    from lesr_local.config import with_overrides

    if args.ray_address is not None and (args.executor or config.executor) != "ray":
        raise BadInput("--ray-address needs --executor ray")
    return with_overrides(config, executor=args.executor, ray_address=args.ray_address)


def _handle(args: argparse.Namespace) -> int:
    from lesr_local.workspace import home_from

    if args.resume is not None:
        given = [f"--{flag.replace('_', '-')}" for flag in [*_OVERRIDES, "preset", "config"]
                 if getattr(args, flag) is not None and flag != "seeds"]
        if given or args.no_video or args.no_reuse:
            extra = " ".join(given) or ("--no-video" if args.no_video else "--no-reuse")
            raise BadInput(f"--resume continues a run with its saved settings; drop {extra}")
        if args.ray_address is not None and args.executor != "ray":
            raise BadInput("--ray-address needs --executor ray")
        target: Any = args.resume
        if args.seeds is not None and args.seeds < 1:
            raise BadInput(f"--seeds must be at least 1, got {args.seeds}")
        if args.unsafe_no_seccomp:
            _opt_out_on_resume(home_from(args), args.resume)
    else:
        target = build_config(args)
        target = _with_executor(target, args)
    home = home_from(args)
    # A resume on another executor runs headless (the live view resumes with the saved settings).
    moved = args.resume is not None and args.executor is not None
    more_seeds = args.resume is not None and args.seeds is not None
    if not (args.headless or args.json or moved or more_seeds) and has_terminal():
        live = _live_runner()
        if live is not None:
            if isinstance(target, str):
                return int(live(None, home, resume_run_id=target))
            return int(live(target, home))
    return _headless(target, home, args.json, (args.executor, args.ray_address) if moved else None,
                     seeds=args.seeds if more_seeds else None)


def _opt_out_on_resume(home: Path, run_id: str) -> None:
    """--resume with --unsafe-no-seccomp: the run's saved settings record the opt-out from now on."""
    from lesr_local.config import RunConfig
    from lesr_local.store import Store

    with Store(home) as store:
        run = store.get_run(run_id)
        config = RunConfig.from_dict(run.config)
        if not config.unsafe_no_seccomp:
            config.unsafe_no_seccomp = True
            store.set_run_config(run_id, config.to_dict())


def _live_runner() -> Any:
    try:
        from lesr_local.tui.app import run_live
    except ImportError:
        return None
    return run_live


def _headless(target: Any, home: Path, as_json: bool, executor: tuple[str, str | None] | None = None,
              seeds: int | None = None) -> int:
    from lesr_local import events as ev
    from lesr_local.errors import LesrError
    from lesr_local.output import print_json
    from lesr_local.search.engine import SearchEngine
    from lesr_local.search.reporter import HeadlessReporter
    from lesr_local.store import Store

    store = Store(home)
    reporter = HeadlessReporter()
    finished: list[ev.RunFinished] = []

    def sink(event: ev.Event) -> None:
        if isinstance(event, ev.RunFinished):
            finished.append(event)
        reporter(event)

    cancel = threading.Event()
    engine = SearchEngine(store, sink, cancel)
    try:
        with _stop_on_signals(cancel, reporter):
            if isinstance(target, str) and seeds is not None and store.get_run(target).status == "finished":
                summary = engine.add_seeds(target, seeds)
            elif isinstance(target, str):
                summary = engine.resume(target, *(executor or (None, None)), seeds=seeds)
            else:
                summary = engine.start(target)
        payload = summary.to_dict()
    except LesrError:
        if finished:
            _end_report(store, reporter, finished[-1].summary, as_json, print_json)
        else:
            reporter.close()
        raise
    finally:
        reporter.close()
    _end_report(store, reporter, payload, as_json, print_json)
    store.close()
    return 0


def _end_report(store: Any, reporter: Any, payload: dict[str, Any], as_json: bool, print_json: Any) -> None:
    reporter.print_summary(payload, store.candidate_views(payload["run_id"]))
    if as_json:
        print_json(payload)


@contextmanager
def _stop_on_signals(cancel: threading.Event, reporter: Any) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM): stop cleanly and save state. A second Ctrl-C: stop at once."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        cancel.set()
        reporter.console.print("[yellow]stopping: saving state (Ctrl-C again to stop at once)[/yellow]")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
