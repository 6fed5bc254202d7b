"""`lesr train`: train once (our TD3, or SB3's SAC / PPO) on the raw state or on a candidate module's features."""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any

from lesr_local.cli import add_home_option, add_unsafe_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train TD3 on the raw state or on a candidate's features")
    add_home_option(parser)
    parser.add_argument("--env", required=True, help="environment id, e.g. HalfCheetah-v5")
    parser.add_argument("--features", default=None, metavar="FILE.py",
                        help="candidate module with revise_state / intrinsic_reward (default: raw state)")
    parser.add_argument("--steps", type=int, required=True, help="env steps to train")
    parser.add_argument("--seed", type=int, default=0, help="training seed, 0 .. 2**32-1 (default 0)")
    parser.add_argument("--preset", choices=["smoke", "quick", "paper"], default="quick",
                        help="TD3 and evaluation settings to use (default: quick)")
    parser.add_argument("--intrinsic-weight", type=float, default=None, help="w in r + w * G(F(s'))")
    parser.add_argument("--shaping", choices=["additive", "potential"], default=None,
                        help="r + w*G(F(s')) (additive) or r + w*(gamma*G(F(s')) - G(F(s))) (potential); "
                             "default: the preset's")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output folder for the policy and checkpoints (default: a new folder "
                             "<home>/train/<time>-<env>-s<seed>-<random>); to resume an interrupted "
                             "training, run it again with the same --out, seed and features")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="torch threads (default: the cores no other lesr training on this machine holds)")
    parser.add_argument("--algo", default="td3", metavar="td3|sac|ppo",
                        help="our TD3 (default) or stable-baselines3's SAC / PPO")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    add_unsafe_option(parser)
    parser.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from lesr_local.config import check_seeds, preset
    from lesr_local.core_slots import claim_cores, threads_for
    from lesr_local.errors import BadInput, Interrupted, RunFailed
    from lesr_local.output import print_json
    from lesr_local.procs import cpu_count
    from lesr_local.rl.action_space import require_continuous
    from lesr_local.rl.algos import check_algo
    from lesr_local.rl.client import run_training
    from lesr_local.rl.spec import TrainSpec
    from lesr_local.workspace import home_from

    if args.steps < 1:
        raise BadInput(f"--steps must be at least 1, got {args.steps}")
    check_seeds(args.seed, args.seed, "--seed")
    if args.threads < 0:
        raise BadInput(f"--threads must be at least 1 (or 0 for automatic), got {args.threads}")
    algo = check_algo(args.algo)
    source = _read_candidate(args.features)
    require_continuous(algo, args.env)
    env_id, state_dim, dim_names = _env_facts(args.env)
    if source is not None:
        _check_semantics(source, env_id, args.unsafe_no_seccomp)
    config = preset(args.preset)
    td3, evaluation = config.td3, config.eval
    weight = config.intrinsic_weight if args.intrinsic_weight is None else args.intrinsic_weight
    shaping = args.shaping or config.shaping
    identity = _identity(env_id, args.seed, source, weight, args.preset, shaping, algo)
    out = _claim_out_dir(Path(args.out), identity) if args.out else _new_out_dir(home_from(args), env_id, args.seed)
    _write_identity(out, identity)
    if td3.start_steps >= args.steps:
        td3.start_steps = max(1, args.steps // 5)
        print(f"lesr: note: random warm-up shortened to {td3.start_steps} steps for a {args.steps}-step run",
              file=sys.stderr)
    if source is not None:
        (out / "features.py").write_text(source)
    cores = cpu_count()
    cancel = threading.Event()
    # Held until the training ends: later `lesr train` processes see these cores as taken.
    with claim_cores(args.threads or cores, cores) as claim:
        threads = threads_for(claim, args.threads)
        if not args.threads and claim.usable and not claim.held:
            print(f"lesr: note: other lesr trainings hold all {cores} cores; training with 1 thread",
                  file=sys.stderr)
        spec = TrainSpec(
            env_id=env_id, steps=args.steps, seed=args.seed, candidate_source=source, intrinsic_weight=weight,
            shaping=shaping, learner=td3, eval=evaluation, checkpoint_dir=out / "checkpoint",
            checkpoint_every=max(1000, args.steps // 10), device=args.device,
            policy_path=out / "policy.safetensors", workers=1, threads=threads, algo=algo,
            unsafe_no_seccomp=args.unsafe_no_seccomp,
        )
        reporter = _Reporter(quiet=args.json)
        try:
            result = run_training(spec, reporter, cancel)
        except KeyboardInterrupt:
            cancel.set()
            raise Interrupted(f"training interrupted; run it again with --out {out} to resume") from None
        finally:
            reporter.close()
    if result.status != "finished":
        reason = result.reason or result.status
        if reason.startswith(("candidate rejected:", "candidate code refused:")):
            raise BadInput(reason)
        raise RunFailed(f"training failed: {reason}")
    if source is not None and "seccomp" not in result.walls:
        print("lesr: warning: the candidate ran without the seccomp filter (--unsafe-no-seccomp)", file=sys.stderr)
    names = dim_names + [f"extra[{i}]" for i in range(max(0, result.feature_dim - len(dim_names)))]
    if args.json:
        print_json({
            "env_id": env_id, "algo": algo, "steps": result.steps, "seed": args.seed, "score": result.score,
            "shaping": shaping,
            "curve": [list(p) for p in result.curve], "lipschitz": result.lipschitz,
            "feature_dim": result.feature_dim, "state_dim": state_dim, "policy_path": result.policy_path,
            "steps_per_s": round(result.steps_per_s, 2), "updates_per_s": round(result.updates_per_s, 2),
            "out": str(out), "torch_threads": result.torch_threads, "resumed_from": result.resumed_from,
            "walls": result.walls,
        })
    else:
        _print_summary(result, names[: result.feature_dim])
        if source is not None:
            print(f"shaping: {shaping} (w = {weight})")
    return 0


IDENTITY_FILE = "training.json"


def _identity(env_id: str, seed: int, source: str | None, weight: float, preset_name: str,
              shaping: str, algo: str) -> dict[str, Any]:
    """What a checkpoint in the output folder must have been made by for this training to resume it."""
    features = None if source is None else hashlib.sha256(source.encode()).hexdigest()
    return {"env_id": env_id, "seed": seed, "features_sha256": features, "intrinsic_weight": weight,
            "preset": preset_name, "shaping": shaping, "algo": algo}


def _new_out_dir(home: Path, env_id: str, seed: int) -> Path:
    """A folder no other training uses: created here (exist_ok=False), so two `lesr train` started
    in the same second never share one."""
    root = home / "train"
    root.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{env_id}-s{seed}"
    while True:
        out = root / f"{stem}-{secrets.token_hex(3)}"
        try:
            out.mkdir()
            return out
        except FileExistsError:
            continue


def _claim_out_dir(out: Path, identity: dict[str, Any]) -> Path:
    """--out DIR: resume only a checkpoint this same training made (env, seed, features, w, preset)."""
    from lesr_local.errors import BadInput
    from lesr_local.rl.checkpoint import has_checkpoint

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot create --out folder {out}: {exc.strerror or exc}") from None
    if not has_checkpoint(out / "checkpoint"):
        return out
    try:
        recorded = json.loads((out / IDENTITY_FILE).read_text())
    except (OSError, ValueError):
        recorded = None
    if recorded == identity:
        return out
    if isinstance(recorded, dict):
        what = "another training (differs in: " + ", ".join(k for k in identity if recorded.get(k) != identity[k]) + ")"
    else:
        what = f"a training of unknown origin (no readable {IDENTITY_FILE})"
    raise BadInput(f"--out {out} holds the checkpoint of {what}; choose another folder, "
                   "or delete its checkpoint/ to start over")


def _write_identity(out: Path, identity: dict[str, Any]) -> None:
    (out / IDENTITY_FILE).write_text(json.dumps(identity, indent=2) + "\n")


def _read_candidate(path: str | None) -> str | None:
    from lesr_local.errors import BadInput
    from lesr_local.sandbox.policy import check_policy

    if path is None:
        return None
    try:
        source = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read features file {path}: {exc}") from None
    reason = check_policy(source)  # AST only: nothing of the candidate runs in this process
    if reason is not None:
        raise BadInput(f"candidate rejected: {reason}")
    return source


def _check_semantics(source: str, env_id: str, unsafe_no_seccomp: bool) -> None:
    """The search's checks on real states of the env (in the sandboxed check worker), before training."""
    from lesr_local.candidates.checks import check_candidate
    from lesr_local.errors import BadInput

    result = check_candidate(source, env_id, unsafe_no_seccomp=unsafe_no_seccomp)
    if not result.valid:
        raise BadInput(f"candidate rejected: {result.reason}")


def _env_facts(env_id: str) -> tuple[str, int, list[str]]:
    from lesr_local.envs.catalogue import get_env_info

    info = get_env_info(env_id)  # BadInput naming close matches for an unknown id
    return info.env_id, info.state_dim, [d.description for d in info.dims]


class _Reporter:
    """Progress on stderr (a rich status line + one line per evaluation); silent with --json."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._status: Any = None
        if not quiet:
            from rich.console import Console

            self.console = Console(stderr=True, markup=False)
            self._status = self.console.status("starting the training worker ...")
            self._status.start()

    def __call__(self, progress: Any) -> None:
        if self.quiet:
            return
        last = "" if progress.episode_return is None else f", last episode {progress.episode_return:.1f}"
        self._status.update(f"step {progress.step}/{progress.total_steps} "
                            f"({progress.steps_per_s:.0f} steps/s{last})")
        if progress.evaluation is not None:
            step, value = progress.evaluation
            self.console.print(f"evaluation at step {step}: {value:.2f}")

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()


def _print_summary(result: Any, names: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(markup=False)  # dim names come from env spec files and candidate code
    curve = Table(title="evaluation curve", show_edge=False)
    curve.add_column("step", justify="right")
    curve.add_column("value", justify="right")
    curve.add_column("")
    values = [v for _, v in result.curve]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    for step, value in result.curve:
        width = 0 if high == low else int(round(30 * (value - low) / (high - low)))
        curve.add_row(str(step), f"{value:.2f}", "█" * max(width, 1))
    console.print(curve)
    score = "n/a" if result.score is None else f"{result.score:.2f}"
    console.print(Text.assemble("score (mean of the last evaluations): ", (score, "bold"),
                                f"   {result.steps_per_s:.1f} steps/s"))
    if result.lipschitz is not None:
        lip = Table(title="Lipschitz constant per feature dim (vs extrinsic reward)", show_edge=False)
        lip.add_column("dim", justify="right")
        lip.add_column("meaning")
        lip.add_column("L", justify="right")
        for i, value in enumerate(result.lipschitz):
            lip.add_row(str(i), names[i] if i < len(names) else "", f"{value:.3f}")
        console.print(lip)
    console.print(f"policy saved to {result.policy_path}")
