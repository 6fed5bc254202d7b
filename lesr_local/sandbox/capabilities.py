"""Drop every capability of this process: root inside a worker keeps uid 0 but no privilege.

Capabilities belong to threads, so `entry` calls this before any thread exists; threads started
later inherit the empty sets.
"""

from __future__ import annotations

import ctypes

from lesr_local.sandbox.sysfacts import errno_text, libc

_PR_CAPBSET_DROP, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_CAP_LAST = 63


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> str | None:
    """Empty the bounding, ambient, effective, permitted and inheritable sets; None, or why not."""
    lib = libc()
    if lib is None:
        return "capabilities: libc not found"
    prctl = lib.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    for cap in range(_CAP_LAST + 1):  # the bounding set first: it needs CAP_SETPCAP, dropped below
        prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if lib.capset(ctypes.byref(header), data) != 0:
        return f"capabilities not dropped: {errno_text()}"
    left = effective_capabilities()
    return None if left == 0 else f"capabilities still effective: {left:#x}"


def effective_capabilities() -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        return None
    return None
