"""`lesr export RUN_ID --out FILE.py`: the best candidate as a standalone, importable module."""

from __future__ import annotations

import argparse
from pathlib import Path

from lesr_local.cli import add_home_option
from lesr_local.errors import BadInput


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="write a run's best revise_state/intrinsic_reward as a module")
    add_home_option(parser)
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument("--out", required=True, metavar="FILE.py", help="the module to write")
    parser.add_argument("--candidate", default="best", help="candidate id (default: the run's best)")
    parser.set_defaults(func=_handle)


def module_text(run_id: str, env_id: str, candidate_id: str, score: float | None, code: str) -> str:
    score_text = "n/a" if score is None else f"{score:.4f}"
    header = [
        f'"""LESR features for {env_id}: revise_state(s) and intrinsic_reward(updated_s).',
        "",
        f"Exported by lesr-local from run {run_id}, candidate {candidate_id} (search score {score_text}).",
        "revise_state returns the source state with task-related features appended; train on",
        "r + w * intrinsic_reward(revise_state(s_next)), s_next being the state the step led to.",
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
    from lesr_local.commands.common import home_from
    from lesr_local.store import Store
    from lesr_local.store.files import atomic_write_text

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
        cand = store.get_candidate(run.run_id, cid)
        if cand.code is None:
            raise BadInput(f"candidate {cid} of run {run.run_id} is the raw-state baseline: no code to export")
    atomic_write_text(out, module_text(run.run_id, run.env_id, cid, cand.score, cand.code))
    print(out)
    return 0
