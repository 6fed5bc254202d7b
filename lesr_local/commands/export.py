"""`lesr export RUN_ID --out FILE.py [--format module|wrapper]`: the best candidate as a standalone module,
or (wrapper) with a gymnasium `LesrWrapper` around it (lesr_local/exporting.py). Both say which reward the
run trained with (additive or potential shaping, w, gamma) and carry its final figures."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lesr_local.cli import add_home_option
from lesr_local.errors import BadInput
from lesr_local.exporting import UNSANDBOXED_WARNING, final_figures, paragraph, shaping_text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="write a run's best revise_state/intrinsic_reward as a module")
    add_home_option(parser)
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument("--out", required=True, metavar="FILE.py", help="the module to write")
    parser.add_argument("--candidate", default="best", help="candidate id (default: the run's best)")
    parser.add_argument("--format", default="module", choices=["module", "wrapper"],
                        help="module: revise_state/intrinsic_reward; wrapper: plus a gymnasium LesrWrapper with the "
                             "run's reward (additive or potential shaping)")
    parser.set_defaults(func=_handle)


def module_text(run_id: str, env_id: str, candidate_id: str, score: float | None, code: str, *,
                reward: str, figures: str) -> str:
    """The plain module: the candidate's functions under a docstring that says where they come from,
    the reward the run trained with (`exporting.shaping_text`) and its final figures."""
    score_text = "n/a" if score is None else f"{score:.4f}"
    header = [
        f'"""LESR features for {env_id}: revise_state(s) and intrinsic_reward(updated_s).',
        "",
        paragraph(f"Exported by lesr-local from run {run_id}, candidate {candidate_id} (search score "
                  f"{score_text}). {figures}"),
        "",
        UNSANDBOXED_WARNING,
        "",
        paragraph("revise_state returns the source state with task-related features appended. The run "
                  f"trained on {reward}."),
        "",
        "WARNING: the functions below were written by an LLM. Inside lesr-local they only ever ran in a",
        "sandboxed worker (seccomp, namespaces, rlimits, a restricted namespace); importing this module runs",
        "them unsandboxed, with your privileges, outside any sandbox. Read the code before you use it.",
        '"""',
        "",
        f"# env: {env_id}",
        f"# run: {run_id}",
        f"# candidate: {candidate_id}",
        f"# score: {score_text}",
        "",
    ]
    imports = [line for line in ("import math", "import numpy as np") if line not in code]
    return "\n".join(header + imports + ["", "", code.strip(), ""])


def _handle(args: argparse.Namespace) -> int:
    from lesr_local.store import Store
    from lesr_local.store.files import atomic_write_text
    from lesr_local.workspace import home_from

    out = Path(args.out).expanduser()
    if out.suffix != ".py":
        raise BadInput(f"--out must name a .py file, got {out.name!r}")
    if not out.parent.exists():
        raise BadInput(f"folder {out.parent} does not exist")
    with Store(home_from(args)) as store:
        run = store.get_run(args.run_id)
        cid = run.best_candidate_id if args.candidate == "best" else args.candidate
        if cid is None:
            raise BadInput(f"run {run.run_id} has no best candidate yet (status {run.status})")
        store.get_candidate(run.run_id, cid)  # BadInput naming an unknown id
        cand = next(v for v in store.candidate_views(run.run_id) if v.candidate_id == cid)
    if args.format == "wrapper":
        text = _wrapper(run, cid, cand)
    else:
        from lesr_local.config import RunConfig

        config = RunConfig.from_dict(run.config, check=False)
        summary = run.summary or {}
        text = module_text(run.run_id, run.env_id, cid, cand.score, cand.code,
                           reward=shaping_text(config.shaping, config.intrinsic_weight, config.td3.gamma),
                           figures=final_figures(summary.get("final"), summary.get("verdict")))
    atomic_write_text(out, text)
    print(out)
    return 0


def _wrapper(run: Any, cid: str, cand: Any) -> str:
    """The wrapper module; BadInput when the run's env cannot be made here (nothing to wrap)."""
    from lesr_local.config import RunConfig
    from lesr_local.envs.catalogue import get_env_info
    from lesr_local.envs.make import make_env
    from lesr_local.exporting import WrapperSource, wrapper_text

    config = RunConfig.from_dict(run.config, check=False)
    try:
        info = get_env_info(run.env_id, config.env_spec)
        make_env(run.env_id, env_spec=config.env_spec).close()
    except Exception as exc:  # noqa: BLE001 - any failure to build the env here is a setup problem
        text = " ".join(str(exc).split())[:200]
        raise BadInput(f"cannot export a wrapper for run {run.run_id}: env {run.env_id} cannot be made "
                       f"here ({type(exc).__name__}: {text})") from None
    extra = cand.extra_dims
    if extra is None:
        raise BadInput(f"candidate {cid} of run {run.run_id} has no recorded number of extra dims")
    summary = run.summary or {}
    return wrapper_text(WrapperSource(
        run_id=run.run_id, env_id=run.env_id, gym_id=info.gym_id, make_kwargs=dict(info.make_kwargs),
        obs_keys=tuple(info.obs_keys), candidate_id=cid, search_score=cand.score,
        intrinsic_weight=config.intrinsic_weight, shaping=config.shaping, gamma=config.td3.gamma,
        state_dim=info.state_dim, extra_dims=int(extra), final=summary.get("final"),
        verdict=summary.get("verdict"), code=cand.code,
    ))
