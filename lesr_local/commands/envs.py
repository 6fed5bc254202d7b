"""`lesr envs [--json]` and `lesr envs show ID [--json] [--env-spec FILE]`: the env catalogue."""

from __future__ import annotations

import argparse
import sys

from lesr_local.cli import add_home_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "envs", help="list catalogued envs, or show one env's per-dim descriptions",
        description="Without a sub-command: the catalogued envs. Any other MuJoCo-based gymnasium id "
        "works too (`lesr envs show ID` describes it from its MuJoCo model).",
    )
    add_home_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    parser.add_argument("--all", action="store_true",
                        help="also list the other MuJoCo-based gymnasium ids (described automatically on use)")
    parser.set_defaults(func=_list)
    actions = parser.add_subparsers(dest="envs_action", metavar="ACTION")

    show = actions.add_parser("show", help="one env: task, metric and a description + unit per dim")
    add_home_option(show)
    show.add_argument("env_id", nargs="?", default=None, metavar="ID",
                      help="env id (catalogued, an older -v4/-v2 id, or any gymnasium MuJoCo id)")
    show.add_argument("--env-spec", default=None, metavar="FILE",
                      help="TOML description of an uncatalogued env (names the gymnasium id, overrides dims)")
    show.add_argument("--json", action="store_true", help="one JSON line on stdout")
    show.set_defaults(func=_show)


def _list(args: argparse.Namespace) -> int:
    from lesr_local.envs.catalogue import list_envs
    from lesr_local.output import print_json

    infos = list_envs()
    others: list[str] = []
    if args.all:
        from lesr_local.envs.catalogue import other_mujoco_ids

        others = other_mujoco_ids()
    if args.json:
        rows = [info.to_json() for info in infos]
        # Uncatalogued ids are not described here (that makes and steps each env): id only.
        rows += [{"env_id": env_id, "catalogued": False} for env_id in others]
        print_json(rows)
        return 0
    width = max(len(i.env_id) for i in infos)
    out = sys.stdout
    out.write(f"{'ENV':<{width}}  {'DIMS':>4}  {'ACT':>3}  {'METRIC':<12}  NAME\n")
    for i in infos:
        out.write(f"{i.env_id:<{width}}  {i.state_dim:>4}  {i.action_dim or 0:>3}  {i.metric:<12}  {i.name}\n")
    for env_id in others:
        out.write(f"{env_id:<{width}}  {'auto':>4}\n")
    out.write("Older ids (-v4, -v2) map to these. Other MuJoCo ids are described automatically: "
              "`lesr envs show ID`" + ("" if args.all else "; `lesr envs --all` lists them") + ".\n")
    return 0


def _show(args: argparse.Namespace) -> int:
    from lesr_local.envs.catalogue import get_env_info
    from lesr_local.errors import BadInput
    from lesr_local.output import print_json

    if not args.env_id and not args.env_spec:
        raise BadInput("lesr envs show needs an env ID or --env-spec FILE")
    info = get_env_info(args.env_id or "", env_spec=args.env_spec)
    if args.json:
        print_json(info.to_json())
        return 0
    out = sys.stdout
    source = "catalogue" if info.catalogued else "described automatically"
    out.write(f"{info.env_id} ({info.name}; {source})\n")
    out.write(f"state_dim {info.state_dim}, action_dim {info.action_dim}, metric {info.metric}\n")
    if info.success_rule:
        out.write(f"success: {info.success_rule}\n")
    if info.obs_keys:
        out.write(f"flattened observation: {' + '.join(info.obs_keys)}\n")
    out.write(f"task: {info.task}\n")
    for d in info.dims:
        out.write(f"  s[{d.index}]  {d.description}  [{d.unit}]\n")
    return 0
