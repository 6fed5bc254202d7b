"""New user, mount, network and IPC namespaces for a worker, entered before it starts any thread.

`unshare(CLONE_NEWUSER)` is refused in a multi-threaded process, so `entry` calls
`enter_namespaces()` first thing, before numpy, torch or MuJoCo start their thread pools. In the
new mount namespace, empty tmpfs mounts hide the shared temp and runtime folders (/tmp, /var/tmp,
/run, /dev/shm): the AF_UNIX sockets of other programs (session D-Bus, docker.sock, ssh-agent, X11)
and other users' temp files are not even visible. A folder that holds this program's own code or
interpreter is left visible (a checkout under /tmp still imports). In the new network namespace
only a down loopback exists. In the new IPC namespace, SysV shared memory, semaphores and message
queues (and POSIX message queues) are private and die with the worker. Each step is tried on its own and degrades with a note where the
kernel or the container refuses it.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lesr_local.sandbox.sysfacts import errno_text, libc

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REC, _MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 1 << 18
HIDDEN_FOLDERS = ("/tmp", "/var/tmp", "/run", "/dev/shm")


@dataclass
class NamespaceReport:
    user: bool = False
    mount: bool = False
    network: bool = False
    ipc: bool = False
    hidden: list[str] = field(default_factory=list)  # folders replaced by an empty tmpfs
    notes: list[str] = field(default_factory=list)


def enter_namespaces(hide: tuple[str, ...] = HIDDEN_FOLDERS) -> NamespaceReport:
    """Move this (single-threaded) process into fresh namespaces, as far as the machine allows."""
    report = NamespaceReport()
    lib = libc()
    if platform.system() != "Linux" or lib is None:
        report.notes.append("namespaces: Linux only")
        return report
    uid, gid = os.getuid(), os.getgid()
    ipc = CLONE_NEWIPC
    for flags in (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | ipc, CLONE_NEWNS | CLONE_NEWNET | ipc,
                  CLONE_NEWNET | ipc, CLONE_NEWNET):
        if lib.unshare(flags) == 0:
            report.user = bool(flags & CLONE_NEWUSER)
            report.mount = bool(flags & CLONE_NEWNS)
            report.ipc = bool(flags & CLONE_NEWIPC)
            report.network = True
            break
        report.notes.append(f"unshare({_flag_names(flags)}) refused: {errno_text()}")
    else:
        return report
    if report.user:
        _map_ids(uid, gid, report)  # keep our own uid and gid inside (files look the same)
    if report.mount:
        _hide_folders(hide, report)
    return report


def _flag_names(flags: int) -> str:
    known = (("user", CLONE_NEWUSER), ("mount", CLONE_NEWNS), ("net", CLONE_NEWNET), ("ipc", CLONE_NEWIPC))
    names = [n for n, f in known if flags & f]
    return "+".join(names)


def _map_ids(uid: int, gid: int, report: NamespaceReport) -> None:
    try:
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    except OSError as exc:
        report.notes.append(f"user namespace id map not written: {exc.strerror}")


def _keep_visible() -> list[Path]:
    """Folders the worker still needs: its interpreter, its code and its import path."""
    paths = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).parent,
             Path(__file__).resolve().parents[2]]
    paths += [Path(p) for p in sys.path if p]
    return [p.resolve() for p in paths if p.is_absolute() or p == Path()]


def _hide_folders(hide: tuple[str, ...], report: NamespaceReport) -> None:
    lib = libc()
    assert lib is not None
    if lib.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:  # nothing leaks back out
        report.notes.append(f"mount namespace: making / private failed: {errno_text()}")
        return
    keep = _keep_visible()
    for folder in hide:
        path = Path(folder)
        if path.is_symlink() or not path.is_dir():
            continue
        if any(k == path or path in k.parents for k in keep):
            report.notes.append(f"{folder} left visible: it holds this program's code or interpreter")
            continue
        flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
        if lib.mount(b"tmpfs", str(path).encode(), b"tmpfs", flags, b"size=256m,mode=1777") != 0:
            report.notes.append(f"hiding {folder} failed: {errno_text()}")
            continue
        report.hidden.append(folder)
    os.chdir("/")  # a working folder under a hidden one would still reach the old files
