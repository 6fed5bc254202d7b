"""The env catalogue: hand-written descriptions for the paper's envs, auto-description for the rest.

`get_env_info` never needs gymnasium for a catalogued id (pure data, lesr_local.envs.entries); other
ids are described from their MuJoCo model (lesr_local.envs.autodescribe), optionally completed by a
TOML file (--env-spec, lesr_local.envs.spec_file).
"""

from __future__ import annotations

import copy

from lesr_local.envs.autodescribe import describe_env
from lesr_local.envs.entries import CATALOGUE
from lesr_local.envs.ids import VERSION, alias_of, resolve_env_id
from lesr_local.envs.info import DimInfo, EnvInfo
from lesr_local.envs.registry import all_gym_ids, gym_registry
from lesr_local.envs.spec_file import info_from_spec_file

__all__ = ["CATALOGUE", "DimInfo", "EnvInfo", "get_env_info", "list_envs", "other_mujoco_ids"]


def get_env_info(env_id: str, env_spec: str | None = None) -> EnvInfo:
    """Description of `env_id` (BadInput naming close matches when unknown).

    With `env_spec` (a TOML path) the file names the gymnasium id and overrides / completes dims.
    """
    if env_spec:
        return info_from_spec_file(env_spec, env_id)
    canonical = resolve_env_id(env_id)
    if canonical in CATALOGUE:
        return CATALOGUE[canonical]()
    if canonical not in _AUTO_CACHE:  # describing makes and steps the env: do it once per process
        _AUTO_CACHE[canonical] = describe_env(canonical)
    return copy.deepcopy(_AUTO_CACHE[canonical])  # callers may edit their copy


_AUTO_CACHE: dict[str, EnvInfo] = {}


def list_envs() -> list[EnvInfo]:
    """Every catalogued env (uncatalogued ones are described on demand by get_env_info)."""
    return [build() for build in CATALOGUE.values()]


def other_mujoco_ids() -> list[str]:
    """Registered gymnasium ids that are MuJoCo-based but not catalogued, latest version of each
    (they work through auto-description). Imports gymnasium and gymnasium-robotics."""
    latest: dict[str, tuple[int, str]] = {}
    registry = gym_registry()
    for env_id in all_gym_ids():
        entry = str(registry[env_id].entry_point)
        if "mujoco" not in entry and "gymnasium_robotics" not in entry:
            continue
        if alias_of(env_id) is not None or "mujoco_py" in entry:
            continue  # catalogued (or an older id of one); mujoco-py envs need a library we lack
        match = VERSION.match(env_id)
        base, version = (match.group("base"), int(match.group("version"))) if match else (env_id, 0)
        if base not in latest or version > latest[base][0]:
            latest[base] = (version, env_id)
    return sorted(env_id for _, env_id in latest.values())
