"""Resource limits, dropped capabilities and the seccomp filter, applied once a worker has loaded
everything it needs (torch, the env) and before it loads candidate code.

`apply_limits` is irreversible. It sets RLIMIT_AS / RLIMIT_DATA, RLIMIT_CPU, RLIMIT_FSIZE,
RLIMIT_CORE=0, RLIMIT_NOFILE (and RLIMIT_NPROC when not root), drops every capability (bounding,
ambient, effective, permitted, inheritable: root inside the worker is an ordinary uid 0 without
privileges), then installs the seccomp filter of `sandbox.seccomp` on every thread.

The walls fail closed: when the seccomp filter cannot be installed (another architecture, a kernel
or container that refuses it), `apply_limits` records why and `restricted.load_candidate` refuses
to load candidate code in that process (`SandboxRefused`, one line naming what is missing and the
opt-out), unless the limits carry `unsafe_no_seccomp` (the user's explicit `--unsafe-no-seccomp`).
Namespaces that cannot be created stay best-effort (seccomp already denies sockets, file writes and
new processes); the report names them.
"""

from __future__ import annotations

import os
import resource
from dataclasses import asdict, dataclass, field
from typing import Any

from lesr_local.errors import BadInput
from lesr_local.sandbox import seccomp
from lesr_local.sandbox.capabilities import drop_capabilities
from lesr_local.sandbox.namespaces import CLONE_NEWNET, NamespaceReport
from lesr_local.sandbox.sysfacts import errno_text, libc


@dataclass
class SandboxLimits:
    """Limits for a worker running candidate code. None = leave that limit as it is."""

    address_space_mb: int | None = 1024  # RLIMIT_AS; the training worker (torch) passes several GB
    data_mb: int | None = None  # RLIMIT_DATA: heap limit, a torch-friendly alternative to RLIMIT_AS
    cpu_seconds: int | None = 20  # RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL one second later
    wall_seconds: float = 30.0  # enforced by the parent, which kills the worker
    file_size_mb: int | None = 0  # RLIMIT_FSIZE: 0 = the worker cannot write any file content
    open_files: int | None = 64  # RLIMIT_NOFILE
    no_new_processes: bool = True  # seccomp (+ RLIMIT_NPROC when not root); threads still work
    cut_network: bool = True  # network namespace + seccomp: no sockets at all
    read_only_fs: bool = True  # seccomp: no opening for write, creating, deleting or renaming files
    # The user's explicit opt-out (--unsafe-no-seccomp): load candidate code even where the seccomp
    # filter could not be installed. Never on by default.
    unsafe_no_seccomp: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if data["wall_seconds"] == float("inf"):
            data["wall_seconds"] = None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxLimits:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if known.get("wall_seconds") is None:
            known["wall_seconds"] = float("inf")
        return cls(**known)


@dataclass
class SandboxReport:
    """Which walls are up in this worker, on this OS and privilege level."""

    rlimits: dict[str, int] = field(default_factory=dict)
    seccomp: bool = False
    capabilities_dropped: bool = False
    nproc_limit: bool = False
    user_namespace: bool = False
    mount_namespace: bool = False
    network_namespace: bool = False
    ipc_namespace: bool = False
    hidden_folders: list[str] = field(default_factory=list)
    read_only_fs: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def network_cut(self) -> bool:
        return self.seccomp or self.network_namespace

    @property
    def processes_blocked(self) -> bool:
        return self.seccomp or self.nproc_limit

    def walls(self) -> list[str]:
        """The walls that are up, as short names (what tests and `lesr doctor` print)."""
        names = [f"rlimit:{k.removeprefix('RLIMIT_').lower()}" for k in sorted(self.rlimits)]
        flags = [("seccomp", self.seccomp), ("capabilities-dropped", self.capabilities_dropped),
                 ("user-namespace", self.user_namespace), ("mount-namespace", self.mount_namespace),
                 ("network-namespace", self.network_namespace), ("ipc-namespace", self.ipc_namespace),
                 ("read-only-fs", self.read_only_fs),
                 ("nproc-limit", self.nproc_limit)]
        names += [name for name, up in flags if up]
        names += [f"hidden:{folder}" for folder in self.hidden_folders]
        return names

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "walls": self.walls()}


OPT_OUT = "--unsafe-no-seccomp (config: unsafe_no_seccomp = true)"


class SandboxRefused(BadInput):
    """Candidate code was not loaded: a wall it needs is not up on this machine (one-line reason)."""


_ENTERED: NamespaceReport | None = None  # set by `entry` when this process entered namespaces
_SANDBOXED_PID: int | None = None  # the process that called apply_limits
_REFUSAL: str | None = None  # why candidate code must not be loaded in this process (None: it may)


def record_namespaces(report: NamespaceReport) -> None:
    global _ENTERED
    _ENTERED = report


def is_sandboxed() -> bool:
    return os.getpid() == _SANDBOXED_PID


def candidate_refusal() -> str | None:
    """Why this sandboxed process must not load candidate code, or None when it may."""
    return _REFUSAL


def refusal_reason(problem: str) -> str:
    """The one line a worker answers with when the seccomp filter is not up."""
    return (f"candidate code refused: the seccomp filter is not up ({problem}); it is the wall that denies "
            f"sockets, file writes and new processes. Use Linux on x86_64 or aarch64 with seccomp, or pass "
            f"{OPT_OUT} to run candidate code without it")


def apply_limits(limits: SandboxLimits) -> SandboxReport:
    """Apply `limits` to the current process (irreversibly). Call once, after heavy imports."""
    global _SANDBOXED_PID, _REFUSAL
    report = SandboxReport()
    if _ENTERED is not None:
        report.user_namespace, report.mount_namespace = _ENTERED.user, _ENTERED.mount
        report.network_namespace, report.hidden_folders = _ENTERED.network, list(_ENTERED.hidden)
        report.ipc_namespace = _ENTERED.ipc
        report.notes += _ENTERED.notes
    mb = 1024 * 1024
    _set_rlimit(report, "RLIMIT_CORE", 0, 0)
    if limits.address_space_mb is not None:
        _set_rlimit(report, "RLIMIT_AS", limits.address_space_mb * mb)
    if limits.data_mb is not None:
        _set_rlimit(report, "RLIMIT_DATA", limits.data_mb * mb)
    if limits.cpu_seconds is not None:
        used = resource.getrusage(resource.RUSAGE_SELF)
        spent = int(used.ru_utime + used.ru_stime) + 1
        _set_rlimit(report, "RLIMIT_CPU", spent + limits.cpu_seconds, spent + limits.cpu_seconds + 1)
    if limits.file_size_mb is not None:
        _set_rlimit(report, "RLIMIT_FSIZE", limits.file_size_mb * mb)
    if limits.open_files is not None:
        _set_rlimit(report, "RLIMIT_NOFILE", limits.open_files)
    if limits.cut_network and not report.network_namespace:
        report.network_namespace = _unshare_network(report)
    if limits.no_new_processes and os.geteuid() != 0:
        # RLIMIT_NPROC counts this user's tasks, threads too, and 0 refuses every new one: each
        # worker starts its thread pools before this point (rl/sandboxing.warm_up_torch). Root
        # bypasses the limit, hence seccomp below.
        report.nproc_limit = _set_rlimit(report, "RLIMIT_NPROC", 0)
    problem = drop_capabilities()  # `entry` already did, before any thread; this covers the rest
    report.capabilities_dropped = problem is None
    if problem is not None:
        report.notes.append(problem)
    _SANDBOXED_PID = os.getpid()
    problem = seccomp.install(procs=limits.no_new_processes, net=limits.cut_network, read_only=limits.read_only_fs)
    report.seccomp = problem is None
    if problem is not None:
        report.notes.append(problem)
        if limits.unsafe_no_seccomp:
            report.notes.append(f"candidate code runs without seccomp: {OPT_OUT} was given")
        else:
            _REFUSAL = refusal_reason(problem)
    report.read_only_fs = report.seccomp and limits.read_only_fs
    missing = [name for name, up in (("user", report.user_namespace), ("mount", report.mount_namespace),
                                     ("network", report.network_namespace), ("ipc", report.ipc_namespace)) if not up]
    if missing:
        report.notes.append(f"namespaces not created (best effort): {', '.join(missing)}")
    return report


def _set_rlimit(report: SandboxReport, name: str, soft: int, hard: int | None = None) -> bool:
    which = getattr(resource, name, None)
    if which is None:
        report.notes.append(f"{name} unavailable on this OS")
        return False
    _, old_hard = resource.getrlimit(which)
    hard = soft if hard is None else hard
    if old_hard != resource.RLIM_INFINITY:
        hard = min(hard, old_hard)
        soft = min(soft, hard)
    try:
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError) as exc:
        report.notes.append(f"{name} not applied: {exc}")
        return False
    report.rlimits[name] = soft
    return True


def _unshare_network(report: SandboxReport) -> bool:
    """Fallback for a worker not started through `entry` (this thread only)."""
    lib = libc()
    if lib is None or lib.unshare(CLONE_NEWNET) != 0:
        report.notes.append(f"network namespace not applied: {errno_text() if lib else 'no libc'}")
        return False
    return True
