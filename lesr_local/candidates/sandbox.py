"""Worker-side sandbox: resource limits, process/network lockdown, and restricted execution.

NEVER call `load_candidate` in the engine or UI process: it executes LLM-written code. It is meant
for worker subprocesses (the check worker in `candidates.worker`, the training worker in `rl/`),
which call `apply_limits` first.

Walls, outermost last:
1. AST policy (`policy.check_policy`), run again by `load_candidate` before exec.
2. Stripped namespace: a small builtins allowlist, a restricted `__import__` that hands out read-only
   proxies of numpy and math exposing only allowlisted functions.
3. `apply_limits`: RLIMIT_AS / RLIMIT_DATA, RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_CORE=0, RLIMIT_NOFILE;
   no new processes (seccomp filter: fork/vfork/execve/execveat and non-thread clone fail with EPERM,
   clone3 with ENOSYS so threads fall back to clone; RLIMIT_NPROC too when not root); network cut
   (a fresh network namespace via unshare(CLONE_NEWNET) where permitted, and the seccomp filter makes
   socket() fail for every family except AF_UNIX); read-only file system (seccomp: opening for
   write, creating, removing, renaming or linking files fails with EROFS).
4. The parent's wall-clock timeout kills the worker.
"""

from __future__ import annotations

import ast
import builtins
import ctypes
import ctypes.util
import math
import os
import platform
import resource
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lesr_local.candidates.allowlists import (
    ALLOWED_MODULES,
    MATH_NAMES,
    NUMPY_LINALG_NAMES,
    NUMPY_NAMES,
    SAFE_BUILTIN_NAMES,
)
from lesr_local.candidates.policy import check_policy, strip_annotations
from lesr_local.errors import BadInput


class CandidateRejected(BadInput):
    """The candidate failed the policy, failed to load, or failed a semantic check (one-line reason)."""


@dataclass
class SandboxLimits:
    """Limits for a worker running candidate code. None = leave that limit as it is."""

    address_space_mb: int | None = 1024  # RLIMIT_AS; the training worker (torch) passes several GB or None
    data_mb: int | None = None  # RLIMIT_DATA: heap limit, a torch-friendly alternative to RLIMIT_AS
    cpu_seconds: int | None = 20  # RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL one second later
    wall_seconds: float = 30.0  # enforced by the parent, which kills the worker
    file_size_mb: int | None = 0  # RLIMIT_FSIZE: 0 = the worker cannot write any file content
    open_files: int | None = 64  # RLIMIT_NOFILE
    no_new_processes: bool = True  # seccomp filter (+ RLIMIT_NPROC when not root); threads still work
    cut_network: bool = True  # unshare(CLONE_NEWNET) where permitted + seccomp socket filter
    read_only_fs: bool = True  # seccomp: no opening for write, creating, deleting or renaming files


@dataclass
class SandboxReport:
    """What `apply_limits` actually managed to enforce on this OS / privilege level."""

    rlimits: dict[str, int] = field(default_factory=dict)
    seccomp: bool = False  # fork/exec/non-thread clone and non-AF_UNIX sockets blocked
    nproc_limit: bool = False  # RLIMIT_NPROC applied (only meaningful when not root)
    network_namespace: bool = False  # running in a fresh, empty network namespace
    read_only_fs: bool = False  # seccomp refuses file writes / creation / removal (EROFS)
    notes: list[str] = field(default_factory=list)

    @property
    def network_cut(self) -> bool:
        return self.seccomp or self.network_namespace

    @property
    def processes_blocked(self) -> bool:
        return self.seccomp or self.nproc_limit


@dataclass
class CandidateFunctions:
    revise_state: Callable[[np.ndarray], Any]
    intrinsic_reward: Callable[[np.ndarray], Any]


# ----------------------------------------------------------------------------------------------
# limits


def apply_limits(limits: SandboxLimits) -> SandboxReport:
    """Apply `limits` to the current process (irreversibly). Call once, after heavy imports."""
    global _SANDBOXED_PID
    report = SandboxReport()
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
    if limits.cut_network:
        report.network_namespace = _unshare_network(report)
    if limits.no_new_processes and os.geteuid() != 0:
        # Not root: RLIMIT_NPROC counts this user's tasks (threads too), so cap it at the current
        # count; existing threads keep running. Root bypasses it, hence seccomp below.
        try:
            _set_rlimit(report, "RLIMIT_NPROC", 0)
            report.nproc_limit = True
        except OSError as exc:
            report.notes.append(f"RLIMIT_NPROC not applied: {exc}")
    _SANDBOXED_PID = os.getpid()
    if limits.no_new_processes or limits.cut_network or limits.read_only_fs:
        report.seccomp = _install_seccomp(report, limits.no_new_processes, limits.cut_network,
                                          limits.read_only_fs)
        report.read_only_fs = report.seccomp and limits.read_only_fs
    return report


def _set_rlimit(report: SandboxReport, name: str, soft: int, hard: int | None = None) -> None:
    which = getattr(resource, name, None)
    if which is None:
        report.notes.append(f"{name} unavailable on this OS")
        return
    _, old_hard = resource.getrlimit(which)
    hard = soft if hard is None else hard
    if old_hard != resource.RLIM_INFINITY:
        hard = min(hard, old_hard)
        soft = min(soft, hard)
    try:
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError) as exc:
        report.notes.append(f"{name} not applied: {exc}")
        return
    report.rlimits[name] = soft


_CLONE_NEWNET = 0x40000000
_SANDBOXED_PID: int | None = None  # the process that called apply_limits (load_candidate checks it)


class NotSandboxed(RuntimeError):
    """load_candidate was called in a process that never applied the sandbox limits."""


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name or "libc.so.6", use_errno=True)
    except OSError:
        return None


def _unshare_network(report: SandboxReport) -> bool:
    if platform.system() != "Linux":
        report.notes.append("network namespace: Linux only")
        return False
    libc = _libc()
    if libc is None:
        report.notes.append("network namespace: libc not found")
        return False
    if libc.unshare(_CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        report.notes.append(f"network namespace not applied: {os.strerror(err)}")
        return False
    return True


# seccomp-BPF ----------------------------------------------------------------------------------

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_EPERM, _EROFS, _ENOSYS, _EAFNOSUPPORT = 1, 30, 38, 97
_CLONE_THREAD = 0x00010000
_AF_UNIX = 1
_OPEN_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000  # O_WRONLY O_RDWR O_CREAT O_TRUNC O_APPEND
# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JSET_K = 0x45
_JGE_K = 0x35
_RET_K = 0x06
# struct seccomp_data offsets: nr (0), arch (4), instruction_pointer (8), args[6] (16 + 8*i, low word)
_OFF_NR, _OFF_ARCH = 0, 4


def _arg(i: int) -> int:
    return 16 + 8 * i


# arch audit id and syscall numbers (-1 = not on this arch)
_ARCH_TABLE: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (0xC000003E, {
        "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "clone": 56, "clone3": 435,
        "socket": 41, "open": 2, "openat": 257, "openat2": 437, "creat": 85, "mkdir": 83,
        "mkdirat": 258, "rmdir": 84, "unlink": 87, "unlinkat": 263, "rename": 82, "renameat": 264,
        "renameat2": 316, "link": 86, "linkat": 265, "symlink": 88, "symlinkat": 266, "truncate": 76,
        "mknod": 133, "mknodat": 259,
    }),
    "aarch64": (0xC00000B7, {
        "fork": -1, "vfork": -1, "execve": 221, "execveat": 281, "clone": 220, "clone3": 435,
        "socket": 198, "open": -1, "openat": 56, "openat2": 437, "creat": -1, "mkdir": -1,
        "mkdirat": 34, "rmdir": -1, "unlink": -1, "unlinkat": 35, "rename": -1, "renameat": 38,
        "renameat2": 276, "link": -1, "linkat": 37, "symlink": -1, "symlinkat": 36, "truncate": 45,
        "mknod": -1, "mknodat": 33,
    }),
}


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _deny_call(nr: int, errno: int) -> list[tuple[int, int, int, int]]:
    if nr < 0:
        return []
    return [(_JEQ_K, 0, 1, nr), (_RET_K, 0, 0, _SECCOMP_RET_ERRNO | errno)]


def _arg_rule(nr: int, arg: int, op: int, value: int, allow_if_true: bool,
              errno: int) -> list[tuple[int, int, int, int]]:
    """If the call is `nr`: load args[arg]; allow or deny by (op, value); reload nr for what follows."""
    if nr < 0:
        return []
    jt, jf = (1, 0) if allow_if_true else (0, 1)
    return [
        (_JEQ_K, 0, 4, nr),
        (_LD_W_ABS, 0, 0, _arg(arg)),
        (op, jt, jf, value),
        (_RET_K, 0, 0, _SECCOMP_RET_ERRNO | errno),
        (_LD_W_ABS, 0, 0, _OFF_NR),
    ]


def _seccomp_program(arch_id: int, nrs: dict[str, int], procs: bool, net: bool,
                     read_only: bool) -> list[tuple[int, int, int, int]]:
    deny_all = _SECCOMP_RET_ERRNO | _EPERM
    prog: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_JEQ_K, 1, 0, arch_id),
        (_RET_K, 0, 0, deny_all),  # another ABI: refuse everything
        (_LD_W_ABS, 0, 0, _OFF_NR),
        (_JGE_K, 0, 1, 0x40000000),  # x32 syscalls on x86_64
        (_RET_K, 0, 0, deny_all),
    ]
    if procs:
        for name in ("fork", "vfork", "execve", "execveat"):
            prog += _deny_call(nrs[name], _EPERM)
        # clone3 passes its flags in memory BPF cannot read: ENOSYS makes libc fall back to clone.
        prog += _deny_call(nrs["clone3"], _ENOSYS)
        prog += _arg_rule(nrs["clone"], 0, _JSET_K, _CLONE_THREAD, True, _EPERM)  # threads only
    if net:
        prog += _arg_rule(nrs["socket"], 0, _JEQ_K, _AF_UNIX, True, _EAFNOSUPPORT)  # AF_UNIX only
    if read_only:
        prog += _arg_rule(nrs["open"], 1, _JSET_K, _OPEN_WRITE_FLAGS, False, _EROFS)
        prog += _arg_rule(nrs["openat"], 2, _JSET_K, _OPEN_WRITE_FLAGS, False, _EROFS)
        prog += _deny_call(nrs["openat2"], _ENOSYS)  # flags in memory; libc falls back to openat
        for name in ("creat", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
                     "renameat2", "link", "linkat", "symlink", "symlinkat", "truncate", "mknod",
                     "mknodat"):
            prog += _deny_call(nrs[name], _EROFS)
    prog.append((_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    return prog


def _install_seccomp(report: SandboxReport, procs: bool, net: bool, read_only: bool) -> bool:
    machine = platform.machine().lower()
    if platform.system() != "Linux" or machine not in _ARCH_TABLE:
        report.notes.append(f"seccomp filter: unsupported platform {platform.system()}/{machine}")
        return False
    libc = _libc()
    if libc is None:
        report.notes.append("seccomp filter: libc not found")
        return False
    arch_id, nrs = _ARCH_TABLE[machine]
    program = _seccomp_program(arch_id, nrs, procs, net, read_only)
    filters = (_SockFilter * len(program))(*[_SockFilter(*ins) for ins in program])
    fprog = _SockFprog(len(program), filters)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        report.notes.append(f"seccomp filter: no_new_privs failed: {os.strerror(ctypes.get_errno())}")
        return False
    if prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.cast(ctypes.byref(fprog), ctypes.c_void_p),
             0, 0) != 0:
        report.notes.append(f"seccomp filter not applied: {os.strerror(ctypes.get_errno())}")
        return False
    return True


# ----------------------------------------------------------------------------------------------
# restricted execution


class ReadOnlyModule:
    """A module stand-in exposing only allowlisted attributes; it cannot be modified."""

    __slots__ = ("_name", "_members")

    def __init__(self, name: str, members: dict[str, Any]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_members", types.MappingProxyType(dict(members)))

    def __getattr__(self, attr: str) -> Any:
        members = object.__getattribute__(self, "_members")
        if attr in members:
            return members[attr]
        name = object.__getattribute__(self, "_name")
        raise AttributeError(f"{name}.{attr} is not available in candidate code")

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError("candidate modules are read-only")

    def __delattr__(self, attr: str) -> None:
        raise AttributeError("candidate modules are read-only")

    def __repr__(self) -> str:
        return f"<restricted module {object.__getattribute__(self, '_name')}>"


def _members(module: Any, names: frozenset[str]) -> dict[str, Any]:
    return {n: getattr(module, n) for n in sorted(names) if hasattr(module, n)}


def make_numpy_proxy() -> ReadOnlyModule:
    members = _members(np, NUMPY_NAMES - {"linalg"})
    members["linalg"] = ReadOnlyModule("np.linalg", _members(np.linalg, NUMPY_LINALG_NAMES))
    return ReadOnlyModule("np", members)


def make_math_proxy() -> ReadOnlyModule:
    return ReadOnlyModule("math", _members(math, MATH_NAMES))


def _noop_print(*args: Any, **kwargs: Any) -> None:
    return None


def make_namespace() -> dict[str, Any]:
    """Fresh globals for one candidate: stripped builtins, np and math proxies pre-bound."""
    modules = {"numpy": make_numpy_proxy(), "math": make_math_proxy()}

    def restricted_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                          level: int = 0) -> Any:
        if level == 0 and name in ALLOWED_MODULES and not fromlist:
            return modules[name]
        if level == 0 and name.startswith("numpy._core.") and name in sys.modules:
            # numpy's C code imports its own helpers lazily (e.g. numpy._core._methods for
            # ndarray.max) through the builtins of the calling frame, i.e. this namespace. Candidate
            # code cannot get here: the policy allows no dunder names and no other imports.
            return sys.modules[name] if fromlist else modules["numpy"]
        raise ImportError(f"import of {name!r} is not allowed in candidate code")

    safe = {n: getattr(builtins, n) for n in SAFE_BUILTIN_NAMES if hasattr(builtins, n)}
    safe["print"] = _noop_print
    safe["__import__"] = restricted_import
    return {
        "__builtins__": safe,  # must be a real dict for CPython's global lookups
        "__name__": "candidate",
        "np": modules["numpy"],
        "math": modules["math"],
    }


def load_candidate(source: str) -> CandidateFunctions:
    """Policy-check and execute `source` in a stripped namespace; raise CandidateRejected(reason).

    Refuses (NotSandboxed) to run in a process that has not called `apply_limits`: candidate code
    never runs in the engine or UI process.
    """
    if os.getpid() != _SANDBOXED_PID:
        raise NotSandboxed("load_candidate needs a worker process that called apply_limits first")
    reason = check_policy(source)
    if reason is not None:
        raise CandidateRejected(reason)
    namespace = make_namespace()
    try:
        tree = strip_annotations(ast.parse(source, mode="exec"))
        code = compile(tree, "<candidate>", "exec", dont_inherit=True)
        exec(code, namespace)  # noqa: S102 - the sandboxed worker is the only caller
    except MemoryError:
        raise CandidateRejected("ran out of memory while loading the module") from None
    except RecursionError:
        raise CandidateRejected("hit the recursion limit while loading the module") from None
    except Exception as exc:  # noqa: BLE001 - any failure of hostile code is a rejection reason
        raise CandidateRejected(f"running the module failed: {describe_exception(exc)}") from None
    funcs = []
    for name in ("revise_state", "intrinsic_reward"):
        func = namespace.get(name)
        if not isinstance(func, types.FunctionType):
            raise CandidateRejected(f"`{name}` must be a function defined with def")
        funcs.append(func)
    return CandidateFunctions(revise_state=funcs[0], intrinsic_reward=funcs[1])


def describe_exception(exc: BaseException) -> str:
    """`TypeName: message` on one line, capped so it fits in a prompt."""
    text = " ".join(str(exc).split())
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
