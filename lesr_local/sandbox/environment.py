"""The environment a worker that runs candidate code starts with: a short allowlist of this
process's variables, never all of them.

The engine's (or a Ray relay's) environment can hold tokens, passwords and cloud keys (RAY_AUTH_TOKEN,
AWS_*, ...), and a worker has no use for them. What a worker keeps is what torch, OpenBLAS, MuJoCo,
Mesa's EGL and the CUDA driver read: the search path of programs and libraries, the locale, the
thread settings and the GPU and GL selection. PYTHON* variables are not passed: workers run
`python -I`, which ignores them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

KEPT_NAMES = frozenset({
    "PATH", "LD_LIBRARY_PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "TZ",
    "DISPLAY", "WAYLAND_DISPLAY",  # a desktop's GLFW rendering (MUJOCO_GL=glfw)
})
KEPT_PREFIXES = (
    "OMP_", "KMP_", "GOMP_", "MKL_", "OPENBLAS_",  # thread pools
    "CUDA_", "NVIDIA_", "PYTORCH_", "HIP_", "ROCR_",  # GPU selection and the CUDA allocator
    "MUJOCO_", "PYOPENGL_", "MESA_", "GALLIUM_", "LIBGL_", "EGL_", "__EGL_", "__GLX_", "__NV_",  # rendering
)
DEFAULT_LOCALE = "C.UTF-8"


def kept(name: str) -> bool:
    return name in KEPT_NAMES or name.startswith(KEPT_PREFIXES)


def worker_env(defaults: Mapping[str, str] | None = None, forced: Mapping[str, str] | None = None,
               source: Mapping[str, str] | None = None) -> dict[str, str]:
    """`defaults` < the kept variables of `source` (this process's environment) < `forced`."""
    env = {"LANG": DEFAULT_LOCALE, **(defaults or {})}
    env.update({k: v for k, v in (os.environ if source is None else source).items() if kept(k)})
    env.update(forced or {})
    return env
