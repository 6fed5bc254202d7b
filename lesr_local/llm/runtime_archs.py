"""Can this llama.cpp build load a GGUF's architecture? Answered without loading anything.

llama.cpp keeps its architecture names ("llama", "qwen2", "gemma3", ...) as C strings in libllama;
a GGUF whose `general.architecture` is not among them fails to load with "unknown model
architecture". Looking the name up in the shared library's bytes tells `lesr models` that up front.
The match is lenient on purpose (a name may be stored as the tail of a longer string: the linker
merges string suffixes), so a false "known" is possible and a false "unknown" is not: llama.cpp
still has the last word at load time.
"""

from __future__ import annotations

import functools
import importlib.util
import mmap
from pathlib import Path

_LIB_NAMES = ("libllama.so", "libllama.dylib", "llama.dll")


def libllama_path() -> Path | None:
    """The llama.cpp library llama-cpp-python loads (found without importing it)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for folder in (Path(root) / "lib", Path(root)):
            for name in _LIB_NAMES:
                if (folder / name).is_file():
                    return folder / name
    return None


@functools.lru_cache(maxsize=64)
def _known(lib: Path, _mtime_ns: int, arch: str) -> bool:
    with lib.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return mm.find(arch.encode("utf-8") + b"\x00") >= 0


def architecture_known(arch: str | None) -> bool | None:
    """True/False for this build; None when it cannot tell (no architecture, no library found)."""
    if not arch:
        return None
    lib = libllama_path()
    if lib is None:
        return None
    try:
        return _known(lib, lib.stat().st_mtime_ns, arch)
    except (OSError, ValueError):
        return None
