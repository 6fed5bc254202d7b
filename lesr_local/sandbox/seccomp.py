"""The seccomp-BPF filter of a worker that runs candidate code.

A denylist, not an allowlist, on purpose: torch, OpenBLAS, MuJoCo, Mesa's EGL and the CUDA driver
use a wide and version-dependent set of ordinary syscalls (ioctl on GPU devices, futex, mmap
variants, rseq, ...), and an allowlist measured on one machine breaks trainings on the next one
with an EPERM deep inside a native library. What the filter denies instead is every family that
reaches outside the process or into the kernel's rarely-needed attack surface:

- new processes: fork, vfork, execve(at), clone without CLONE_THREAD (clone3 -> ENOSYS so libc
  falls back to clone, whose flags BPF can read; threads still work);
- the network and local services: socket, socketpair, connect, bind, listen, accept(4);
- other processes: ptrace, process_vm_readv/writev, kcmp, pidfd_getfd, process_madvise,
  process_mrelease; kill/tkill/tgkill/rt_(tg)sigqueueinfo/pidfd_send_signal to any process but
  itself; prlimit64 on any process but itself (setrlimit/getrlimit on itself still work);
- SysV IPC: shmget/shmat/shmctl/shmdt, semget/semop/semtimedop/semctl, msgget/msgsnd/msgrcv/msgctl
  (objects that would outlive the worker; x86_64 and aarch64 have no ipc() multiplexer);
- kernel surfaces: io_uring_*, bpf, perf_event_open, userfaultfd, keyctl/add_key/request_key,
  (f)init_module/delete_module, kexec_(file_)load, personality, syslog, iopl/ioperm,
  lookup_dcookie, fanotify_init, open_by_handle_at/name_to_handle_at, ioctl(TIOCSTI);
- namespaces and mounts: setns, unshare, mount, umount2, pivot_root, chroot, the new mount API
  (open_tree, move_mount, fsopen, fsconfig, fsmount, fspick, mount_setattr);
- machine state: reboot, swapon/swapoff, acct, settimeofday, clock_settime, adjtimex,
  clock_adjtime, quotactl, sethostname, setdomainname, vhangup;
- with `read_only`: opening for write or create, creat, mkdir, rmdir, unlink, rename, link,
  symlink, truncate, mknod, chmod/chown families, utime families and xattr writes (EROFS);
  openat2 -> ENOSYS (its flags are in memory; libc falls back to openat).
Any other ABI (x32, 32-bit compat) is refused outright.
"""

from __future__ import annotations

import ctypes
import os
import platform

from lesr_local.sandbox.sysfacts import libc

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_EPERM, _EACCES, _EROFS, _ENOSYS, _EAFNOSUPPORT = 1, 13, 30, 38, 97
_CLONE_THREAD = 0x00010000
_TIOCSTI = 0x5412
_SECCOMP_SYSCALL = {"x86_64": 317, "aarch64": 277}
_OPEN_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000  # O_WRONLY O_RDWR O_CREAT O_TRUNC O_APPEND
# BPF opcodes
_LD_W_ABS, _JEQ_K, _JSET_K, _JGE_K, _RET_K = 0x20, 0x15, 0x45, 0x35, 0x06
_OFF_NR, _OFF_ARCH = 0, 4  # struct seccomp_data: nr, arch, instruction_pointer, args[6]

Instruction = tuple[int, int, int, int]

_X86_64 = {
    "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "clone": 56, "clone3": 435,
    "socket": 41, "socketpair": 53, "connect": 42, "bind": 49, "listen": 50, "accept": 43, "accept4": 288,
    "open": 2, "openat": 257, "openat2": 437, "creat": 85, "mkdir": 83, "mkdirat": 258, "rmdir": 84,
    "unlink": 87, "unlinkat": 263, "rename": 82, "renameat": 264, "renameat2": 316, "link": 86,
    "linkat": 265, "symlink": 88, "symlinkat": 266, "truncate": 76, "mknod": 133, "mknodat": 259,
    "chmod": 90, "fchmod": 91, "fchmodat": 268, "fchmodat2": 452, "chown": 92, "fchown": 93,
    "lchown": 94, "fchownat": 260, "utime": 132, "utimes": 235, "futimesat": 261, "utimensat": 280,
    "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197, "lremovexattr": 198,
    "fremovexattr": 199,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_getfd": 438,
    "process_madvise": 440, "process_mrelease": 448,
    "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297,
    "pidfd_send_signal": 424,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "bpf": 321,
    "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248, "request_key": 249,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246,
    "kexec_file_load": 320, "personality": 135, "syslog": 103, "iopl": 172, "ioperm": 173,
    "lookup_dcookie": 212, "fanotify_init": 300, "open_by_handle_at": 304, "name_to_handle_at": 303,
    "ioctl": 16,
    "setns": 308, "unshare": 272, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442,
    "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163, "settimeofday": 164, "clock_settime": 227,
    "adjtimex": 159, "clock_adjtime": 305, "quotactl": 179, "sethostname": 170, "setdomainname": 171,
    "vhangup": 153,
    "prlimit64": 302,
    "shmget": 29, "shmat": 30, "shmctl": 31, "shmdt": 67, "semget": 64, "semop": 65, "semctl": 66,
    "semtimedop": 220, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71,
}
_AARCH64 = {  # asm-generic numbering; calls that do not exist there are absent
    "execve": 221, "execveat": 281, "clone": 220, "clone3": 435,
    "socket": 198, "socketpair": 199, "connect": 203, "bind": 200, "listen": 201, "accept": 202,
    "accept4": 242, "openat": 56, "openat2": 437, "mkdirat": 34, "unlinkat": 35, "renameat": 38,
    "renameat2": 276, "linkat": 37, "symlinkat": 36, "truncate": 45, "mknodat": 33, "fchmod": 52,
    "fchmodat": 53, "fchmodat2": 452, "fchown": 55, "fchownat": 54, "utimensat": 88, "setxattr": 5,
    "lsetxattr": 6, "fsetxattr": 7, "removexattr": 14, "lremovexattr": 15, "fremovexattr": 16,
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "pidfd_getfd": 438,
    "process_madvise": 440, "process_mrelease": 448,
    "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240,
    "pidfd_send_signal": 424,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "bpf": 280,
    "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219, "add_key": 217, "request_key": 218,
    "init_module": 105, "finit_module": 273, "delete_module": 106, "kexec_load": 104,
    "kexec_file_load": 294, "personality": 92, "syslog": 116, "lookup_dcookie": 18, "fanotify_init": 262,
    "open_by_handle_at": 265, "name_to_handle_at": 264, "ioctl": 29,
    "setns": 268, "unshare": 97, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442,
    "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89, "settimeofday": 170, "clock_settime": 112,
    "adjtimex": 171, "clock_adjtime": 266, "quotactl": 60, "sethostname": 161, "setdomainname": 162,
    "vhangup": 58,
    "prlimit64": 261,
    "shmget": 194, "shmat": 196, "shmctl": 195, "shmdt": 197, "semget": 190, "semop": 193, "semctl": 191,
    "semtimedop": 192, "msgget": 186, "msgsnd": 189, "msgrcv": 188, "msgctl": 187,
}
ARCHES: dict[str, tuple[int, dict[str, int]]] = {"x86_64": (0xC000003E, _X86_64), "aarch64": (0xC00000B7, _AARCH64)}

PROCESS_CALLS = ("fork", "vfork", "execve", "execveat")
NETWORK_CALLS = ("socket", "socketpair", "connect", "bind", "listen", "accept", "accept4")
OTHER_PROCESS_CALLS = ("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
                       "process_madvise", "process_mrelease", "pidfd_send_signal")
SIGNAL_CALLS = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")  # allowed to self only
KERNEL_CALLS = ("io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "perf_event_open",
                "userfaultfd", "keyctl", "add_key", "request_key", "init_module", "finit_module",
                "delete_module", "kexec_load", "kexec_file_load", "personality", "syslog", "iopl", "ioperm",
                "lookup_dcookie", "fanotify_init", "open_by_handle_at", "name_to_handle_at")
NAMESPACE_CALLS = ("setns", "unshare", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount",
                   "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr")
# SysV IPC objects outlive the process that made them (the IPC namespace also keeps them inside).
# Neither ABI here has the ipc() multiplexer (it is i386's); other ABIs are refused outright.
SYSV_IPC_CALLS = ("shmget", "shmat", "shmctl", "shmdt", "semget", "semop", "semctl", "semtimedop",
                  "msgget", "msgsnd", "msgrcv", "msgctl")
MACHINE_CALLS = ("reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "adjtimex",
                 "clock_adjtime", "quotactl", "sethostname", "setdomainname", "vhangup")
WRITE_CALLS = ("creat", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2",
               "link", "linkat", "symlink", "symlinkat", "truncate", "mknod", "mknodat", "chmod", "fchmod",
               "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "utime", "utimes",
               "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
               "fremovexattr")


def _arg(i: int) -> int:
    return 16 + 8 * i  # low word of args[i]


def _deny(nrs: dict[str, int], name: str, errno: int) -> list[Instruction]:
    nr = nrs.get(name)
    if nr is None:
        return []
    return [(_JEQ_K, 0, 1, nr), (_RET_K, 0, 0, _RET_ERRNO | errno)]


def _arg_rule(nrs: dict[str, int], name: str, arg: int, op: int, value: int, allow_if_true: bool,
              errno: int) -> list[Instruction]:
    """If the call is `name`: load args[arg]; allow or deny by (op, value); reload nr for what follows."""
    nr = nrs.get(name)
    if nr is None:
        return []
    jt, jf = (1, 0) if allow_if_true else (0, 1)
    return [
        (_JEQ_K, 0, 4, nr),
        (_LD_W_ABS, 0, 0, _arg(arg)),
        (op, jt, jf, value),
        (_RET_K, 0, 0, _RET_ERRNO | errno),
        (_LD_W_ABS, 0, 0, _OFF_NR),
    ]


def _self_only_rule(nrs: dict[str, int], name: str, own_pid: int) -> list[Instruction]:
    """If the call is `name`: allow when args[0] is 0 or `own_pid`, else EPERM; reload nr after."""
    nr = nrs.get(name)
    if nr is None:
        return []
    return [
        (_JEQ_K, 0, 5, nr),
        (_LD_W_ABS, 0, 0, _arg(0)),
        (_JEQ_K, 2, 0, 0),
        (_JEQ_K, 1, 0, own_pid),
        (_RET_K, 0, 0, _RET_ERRNO | _EPERM),
        (_LD_W_ABS, 0, 0, _OFF_NR),
    ]


def program(arch_id: int, nrs: dict[str, int], *, procs: bool, net: bool, read_only: bool,
            own_pid: int) -> list[Instruction]:
    """The BPF program. Kernel, namespace, machine and cross-process rules always apply."""
    deny_all = _RET_ERRNO | _EPERM
    prog: list[Instruction] = [
        (_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_JEQ_K, 1, 0, arch_id),
        (_RET_K, 0, 0, deny_all),  # another ABI: refuse everything
        (_LD_W_ABS, 0, 0, _OFF_NR),
        (_JGE_K, 0, 1, 0x40000000),  # x32 syscalls on x86_64
        (_RET_K, 0, 0, deny_all),
    ]
    for name in OTHER_PROCESS_CALLS + KERNEL_CALLS + NAMESPACE_CALLS + MACHINE_CALLS + SYSV_IPC_CALLS:
        prog += _deny(nrs, name, _EPERM)
    for name in SIGNAL_CALLS:  # signals to itself (abort, thread wake-ups) only
        prog += _arg_rule(nrs, name, 0, _JEQ_K, own_pid, True, _EPERM)
    # Its own rlimits only (pid 0 = itself, which is what setrlimit/getrlimit use): without a PID
    # namespace, prlimit64 on the engine or a Ray raylet would change their limits for good.
    prog += _self_only_rule(nrs, "prlimit64", own_pid)
    prog += _arg_rule(nrs, "ioctl", 1, _JEQ_K, _TIOCSTI, False, _EPERM)  # no typing into a terminal
    if procs:
        for name in PROCESS_CALLS:
            prog += _deny(nrs, name, _EPERM)
        prog += _deny(nrs, "clone3", _ENOSYS)
        prog += _arg_rule(nrs, "clone", 0, _JSET_K, _CLONE_THREAD, True, _EPERM)  # threads only
    if net:
        prog += _deny(nrs, "socket", _EAFNOSUPPORT)
        for name in NETWORK_CALLS[1:]:
            prog += _deny(nrs, name, _EACCES)
    if read_only:
        prog += _arg_rule(nrs, "open", 1, _JSET_K, _OPEN_WRITE_FLAGS, False, _EROFS)
        prog += _arg_rule(nrs, "openat", 2, _JSET_K, _OPEN_WRITE_FLAGS, False, _EROFS)
        prog += _deny(nrs, "openat2", _ENOSYS)
        for name in WRITE_CALLS:
            prog += _deny(nrs, name, _EROFS)
    prog.append((_RET_K, 0, 0, _RET_ALLOW))
    return prog


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def install(*, procs: bool, net: bool, read_only: bool) -> str | None:
    """Install the filter on this process (all its threads). Returns None, or why it could not."""
    machine = platform.machine().lower()
    if platform.system() != "Linux" or machine not in ARCHES:
        return f"seccomp filter: unsupported platform {platform.system()}/{machine}"
    lib = libc()
    if lib is None:
        return "seccomp filter: libc not found"
    arch_id, nrs = ARCHES[machine]
    prog = program(arch_id, nrs, procs=procs, net=net, read_only=read_only, own_pid=os.getpid())
    if len(prog) > 4096:
        return "seccomp filter: program too long"
    filters = (_SockFilter * len(prog))(*[_SockFilter(*ins) for ins in prog])
    fprog = _SockFprog(len(prog), filters)
    prctl = lib.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        return f"seccomp filter: no_new_privs failed: {os.strerror(ctypes.get_errno())}"
    # seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC): every thread of the process gets the
    # filter, torch's and OpenBLAS's pool threads started before it included. prctl() only covers the
    # calling thread and the threads it creates later: the fallback for kernels without TSYNC.
    lib.syscall.restype = ctypes.c_long
    if lib.syscall(ctypes.c_long(_SECCOMP_SYSCALL[machine]), ctypes.c_ulong(1), ctypes.c_ulong(1),
                   ctypes.cast(ctypes.byref(fprog), ctypes.c_void_p)) == 0:
        return None
    if prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.cast(ctypes.byref(fprog), ctypes.c_void_p), 0, 0) != 0:
        return f"seccomp filter not applied: {os.strerror(ctypes.get_errno())}"
    return None
