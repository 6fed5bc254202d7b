"""Where every process that runs candidate code starts: `python -I -c <bootstrap> ROLE PARENT_PID`.

Before anything else (no numpy, no torch, no thread yet) it enters new namespaces and drops every
capability, then asks Linux to kill it when its parent dies. The protocol moves to a private copy of
stdout and fd 1 is pointed at stderr, so nothing the worker prints can corrupt a frame. Only then is
the role's module imported; the role itself applies the rlimits and seccomp once its heavy imports
are done, and only then loads candidate code.

A fork server (`sandbox.zygote`) imports a role's module once and forks one child per worker; each
child then takes the same steps, `become_worker`, as a worker started on its own.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import IO, BinaryIO

from lesr_local.procs import die_with_parent
from lesr_local.sandbox.capabilities import drop_capabilities
from lesr_local.sandbox.limits import record_namespaces
from lesr_local.sandbox.namespaces import enter_namespaces

# role -> (module, function(stdin, out) -> exit code)
ROLES = {
    "check": ("lesr_local.candidates.worker", "serve_stream"),
    "train": ("lesr_local.rl.worker", "serve_stream"),
    "render": ("lesr_local.render.worker", "serve_stream"),
    "reference": ("lesr_local.bench.reference_worker", "serve_reference_stream"),
    "checkpoint_bench": ("lesr_local.bench.checkpoint_worker", "serve_checkpoint_bench_stream"),
}

Serve = Callable[[BinaryIO, IO[bytes]], int]


def role_function(role: str) -> Serve:
    module_name, function = ROLES[role]
    return getattr(importlib.import_module(module_name), function)  # type: ignore[no-any-return]


def become_worker(role: str, parent_pid: int, serve: Callable[[], Serve]) -> int:
    """Namespaces, capabilities, death with the parent, a private protocol stream, then the role.
    The process must be single-threaded here (unshare(CLONE_NEWUSER) requires it)."""
    report = enter_namespaces()
    problem = drop_capabilities()
    if problem is not None:
        report.notes.append(problem)
    die_with_parent(parent_pid)  # after the namespace change, which would clear it
    record_namespaces(report)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return int(serve()(sys.stdin.buffer, out) or 0)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ROLES or not argv[1].isdigit():
        print(f"usage: entry {{{'|'.join(ROLES)}}} PARENT_PID", file=sys.stderr)
        return 2
    role, parent_pid = argv[0], int(argv[1])
    return become_worker(role, parent_pid, lambda: role_function(role))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
