"""libc access shared by the sandbox walls (ctypes only: nothing here may start a thread)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os


@functools.cache
def libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name or "libc.so.6", use_errno=True)
    except OSError:
        return None


def errno_text() -> str:
    return os.strerror(ctypes.get_errno())
