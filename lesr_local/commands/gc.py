"""`lesr gc [--dry-run]`: what stored checkpoints and files a home could free, then free them.

Checkpoints hold replay buffers and make up nearly all of a home's size. Only the ones a resume needs
(unfinished trainings) are kept; checkpoints kept to let a longer training continue a finished one,
checkpoints nothing needs, and temporary files of interrupted writes are freed
(lesr_local/trainings/disk.py says which is which). Results (the store, policies, candidate modules,
videos) are never touched.
"""

from __future__ import annotations

import argparse

from lesr_local.cli import add_home_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gc", help="free the checkpoints and files no resume needs")
    add_home_option(parser)
    parser.add_argument("--dry-run", action="store_true", help="only say what would be freed")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    parser.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    from lesr_local.output import print_json
    from lesr_local.store import Store
    from lesr_local.trainings.disk import free, home_disk_use
    from lesr_local.workspace import home_from

    with Store(home_from(args)) as store:
        use = home_disk_use(store)
        report = use.to_json()
        freed = 0 if args.dry_run else free(use.items)
    report.update({"dry_run": args.dry_run, "freed_bytes": freed})
    if args.json:
        print_json(report)
        return 0
    for why, entry in report["checkpoints"].items():  # type: ignore[union-attr]
        print(f"{entry['files']:5d} file(s), {entry['bytes'] / 2**20:9.1f} MB: {why}")
    verb = "would free" if args.dry_run else "freed"
    amount = report["freeable_bytes"] if args.dry_run else freed
    print(f"{verb} {amount / 2**20:.1f} MB; results (store, policies, candidates, videos) are kept")  # type: ignore[operator]
    return 0
