"""lesr_local.envs: env catalogue (per-dim descriptions, task, metric), auto-description, make_env.

Kept light on purpose: nothing here imports gymnasium or MuJoCo until a function that needs it is
called, so `lesr --help` and the CLI stay fast. Names are re-exported lazily.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "DimInfo": "lesr_local.envs.catalogue",
    "EnvInfo": "lesr_local.envs.catalogue",
    "get_env_info": "lesr_local.envs.catalogue",
    "list_envs": "lesr_local.envs.catalogue",
    "resolve_env_id": "lesr_local.envs.ids",
    "make_env": "lesr_local.envs.make",
    "sample_states": "lesr_local.envs.make",
    "episode_success": "lesr_local.envs.make",
    "env_max_episode_steps": "lesr_local.envs.make",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'lesr_local.envs' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
