"""Run a command on a "machine" whose kernel offers no seccomp filters (test-only; never shipped).

Usage: python no_seccomp_launcher.py COMMAND [ARG...]. Before exec'ing COMMAND, it installs its own
seccomp filter, inherited by COMMAND and every process it starts, that answers seccomp(2) with ENOSYS
and prctl(PR_SET_SECCOMP) with EINVAL: what a kernel built without CONFIG_SECCOMP_FILTER answers, and
what a container that forbids nested filters looks like from inside. Everything else is allowed, so
lesr-local itself runs normally; only its workers' own filter cannot go up.
"""

import ctypes
import os
import platform
import sys

SECCOMP_NR = {"x86_64": 317, "aarch64": 277}
PRCTL_NR = {"x86_64": 157, "aarch64": 167}
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
ENOSYS, EINVAL = 38, 22
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def main() -> None:
    machine = platform.machine().lower()
    program = [
        (LD_W_ABS, 0, 0, 4), (JEQ_K, 1, 0, AUDIT_ARCH[machine]), (RET_K, 0, 0, RET_ALLOW),
        (LD_W_ABS, 0, 0, 0),
        (JEQ_K, 0, 1, SECCOMP_NR[machine]), (RET_K, 0, 0, RET_ERRNO | ENOSYS),
        (JEQ_K, 0, 3, PRCTL_NR[machine]),
        (LD_W_ABS, 0, 0, 16),  # prctl's option
        (JEQ_K, 0, 1, PR_SET_SECCOMP), (RET_K, 0, 0, RET_ERRNO | EINVAL),
        (RET_K, 0, 0, RET_ALLOW),
    ]
    filters = (SockFilter * len(program))(*[SockFilter(*ins) for ins in program])
    fprog = SockFprog(len(program), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        sys.exit(f"no_new_privs: {os.strerror(ctypes.get_errno())}")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.cast(ctypes.byref(fprog), ctypes.c_void_p), 0, 0) != 0:
        sys.exit(f"launcher filter: {os.strerror(ctypes.get_errno())}")
    os.execv(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
