"""`lesr candidate check FILE --env ID [--json]`: validate and smoke-run a candidate in the sandbox.

Exit 0 valid, 2 rejected (reason on stderr, or in the JSON line), 1 internal error. FILE is a module
defining `revise_state(s)` and `intrinsic_reward(updated_s)`, the format LESR results are shared in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lesr_local.cli import add_home_option, add_unsafe_option
from lesr_local.errors import EXIT_BAD_INPUT, BadInput

MAX_FILE_BYTES = 200_000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("candidate", help="check LLM-written feature code")
    add_home_option(parser)
    actions = parser.add_subparsers(dest="candidate_action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate and smoke-run a candidate module in the sandbox")
    add_home_option(check)
    check.add_argument("file", metavar="FILE", help="Python module with revise_state(s) and intrinsic_reward(updated_s)")
    check.add_argument("--env", required=True, metavar="ID", help="environment id, e.g. HalfCheetah-v5")
    check.add_argument("--env-spec", default=None, metavar="TOML", help="description of an uncatalogued env")
    check.add_argument("--budget-ms", type=float, default=None, metavar="MS",
                       help="mean call-time budget per state (default 1 ms)")
    check.add_argument("--json", action="store_true", help="one JSON line on stdout")
    add_unsafe_option(check)
    check.set_defaults(func=_check)


def read_candidate_file(path_text: str) -> str:
    path = Path(path_text)
    if not path.is_file():
        raise BadInput(f"candidate file not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read candidate file {path}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise BadInput(f"candidate file too large: {path} ({len(data)} bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"candidate file is not UTF-8 text: {path}") from None


def _check(args: argparse.Namespace) -> int:
    from lesr_local.candidates.checks import check_candidate
    from lesr_local.candidates.extract import drop_main_block
    from lesr_local.candidates.semantics import DEFAULT_CALL_BUDGET_MS
    from lesr_local.envs import get_env_info
    from lesr_local.output import print_json

    source = drop_main_block(read_candidate_file(args.file))  # a demo under __main__ never runs on import
    budget = args.budget_ms if args.budget_ms is not None else DEFAULT_CALL_BUDGET_MS
    if budget <= 0:
        raise BadInput(f"--budget-ms must be positive, got {budget:g}")
    info = get_env_info(args.env, args.env_spec)  # BadInput for unknown ids, naming close matches
    result = check_candidate(source, info.env_id, args.env_spec, call_budget_ms=budget,
                             unsafe_no_seccomp=args.unsafe_no_seccomp)
    if args.json:
        print_json({"file": str(args.file), "env_id": info.env_id, **result.to_dict()})
        return 0 if result.valid else EXIT_BAD_INPUT
    if not result.valid:
        print(f"lesr: candidate rejected: {result.reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"valid: {info.env_id} state_dim={result.state_dim} feature_dim={result.feature_dim} "
          f"extra_dims={result.extra_dims} mean_call_ms={result.mean_call_ms:.4f}")
    return 0
