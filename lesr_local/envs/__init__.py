"""lesr_local.envs: env catalogue (per-dim descriptions, task, metric), auto-description, make_env.

Data flows one way, bottom to top: info, specs/ and entries (pure data) -> registry -> ids -> build
-> autodescribe -> spec_file -> catalogue, make. gymnasium and MuJoCo are imported only inside the
functions that need them, so importing this package (and `lesr envs` on catalogued ids) stays fast.
"""

from __future__ import annotations

from lesr_local.envs.catalogue import get_env_info, list_envs
from lesr_local.envs.ids import resolve_env_id
from lesr_local.envs.info import DimInfo, EnvInfo
from lesr_local.envs.make import env_max_episode_steps, episode_success, make_env, sample_states

__all__ = [
    "DimInfo", "EnvInfo", "env_max_episode_steps", "episode_success", "get_env_info", "list_envs",
    "make_env", "resolve_env_id", "sample_states",
]
