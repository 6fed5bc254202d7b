"""`lesr render`: a video of a run's policy, or of random actions in an env (a preview)."""

from __future__ import annotations

import argparse

from lesr_local.cli import add_home_option, add_unsafe_option
from lesr_local.errors import BadInput


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render", help="render a policy (or random actions) to an MP4 or GIF video",
        description="lesr render RUN_ID [--candidate best|ID] --out FILE.mp4|.gif, "
        "or lesr render --env ID --random --out FILE.mp4|.gif",
    )
    add_home_option(parser)
    parser.add_argument("run_id", nargs="?", metavar="RUN_ID", help="a run from `lesr history`")
    parser.add_argument("--candidate", default="best", metavar="best|ID", help="which policy (default: best)")
    parser.add_argument("--env", default=None, metavar="ID", help="env to preview (with --random)")
    parser.add_argument("--random", action="store_true", help="uniform random actions (env preview)")
    parser.add_argument("--out", required=True, metavar="FILE", help="output video: .mp4 or .gif")
    parser.add_argument("--episodes", type=int, default=1, metavar="N", help="episodes to record (default 1)")
    parser.add_argument("--max-steps", type=int, default=1000, metavar="N", help="steps per episode cap")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    add_unsafe_option(parser)
    parser.set_defaults(func=_render)


def _render(args: argparse.Namespace) -> int:
    from lesr_local.output import print_json
    from lesr_local.render.client import RenderError
    from lesr_local.render.video import check_video_path, render_policy_video
    from lesr_local.workspace import home_from

    if args.episodes < 1:
        raise BadInput(f"--episodes must be at least 1, got {args.episodes}")
    if args.max_steps < 1:
        raise BadInput(f"--max-steps must be at least 1, got {args.max_steps}")
    out = check_video_path(args.out)
    if args.run_id is not None:
        if args.env is not None or args.random:
            raise BadInput("give either RUN_ID or --env ID --random, not both")
        from lesr_local.render.targets import resolve_target
        from lesr_local.store.db import Store

        target = resolve_target(Store(home_from(args)), args.run_id, args.candidate)
        env_id, env_spec, policy, code = target.env_id, target.env_spec, target.policy_path, target.code
        what = f"run {target.run_id} candidate {target.candidate_id}"
    else:
        if args.env is None or not args.random:
            raise BadInput("give a RUN_ID, or --env ID --random for an env preview")
        from lesr_local.envs.catalogue import get_env_info

        info = get_env_info(args.env)
        env_id, env_spec, policy, code = info.env_id, None, None, None
        what = f"{env_id} with random actions"
    try:
        video = render_policy_video(
            env_id, policy, code, out, episodes=args.episodes, env_spec=env_spec,
            max_steps=args.max_steps, random=policy is None, seed=args.seed,
            unsafe_no_seccomp=args.unsafe_no_seccomp,
        )
    except RenderError as exc:
        raise BadInput(str(exc)) from None
    if args.json:
        print_json({
            "path": str(video.path), "frames": video.frames, "episodes": video.episodes,
            "returns": video.returns, "fps": video.fps,
        })
    else:
        returns = ", ".join(f"{r:.1f}" for r in video.returns)
        print(f"wrote {video.path} ({video.frames} frames, {video.episodes} episode(s), {what}, return {returns})")
    return 0
