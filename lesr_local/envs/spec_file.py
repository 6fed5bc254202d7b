"""`--env-spec FILE`: a TOML description that names a gymnasium env and overrides / completes dims.

Example:
    gym_id = "InvertedDoublePendulum-v5"   # what gymnasium.make gets (required unless env_id is one)
    env_id = "MyDoublePendulum"            # the name LESR shows (default: gym_id)
    module = "my_envs"                     # optional: imported first, e.g. to register the env
    entry_point = "my_envs:CartEnv"        # optional: registers gym_id with this entry point
    max_episode_steps = 500                # optional (with entry_point)
    task = "Balance the double pendulum."  # optional: replaces the task text
    metric = "return"                      # optional: "return" | "success_rate"
    success_rule = "..."                   # optional, for success_rate
    obs_keys = ["observation", "desired_goal"]   # optional: dict-obs flattening order
    state_dim = 9                          # optional: checked against the real observation
    [make_kwargs]                          # optional gymnasium.make keyword arguments
    [[dims]]                               # optional, by index: description and/or unit
    index = 8
    description = "constraint force on the cart"
    unit = "N"

Modules are looked up next to the TOML file first. The base description is the catalogue entry (for
a catalogued gym_id without make_kwargs) or the automatic one; the file's fields then win.
"""

from __future__ import annotations

import importlib
import sys
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lesr_local.envs.autodescribe import describe_env
from lesr_local.envs.entries import CATALOGUE
from lesr_local.envs.ids import alias_of
from lesr_local.envs.info import DimInfo, EnvInfo
from lesr_local.envs.registry import ensure_registered
from lesr_local.errors import BadInput

_KNOWN_KEYS = {
    "gym_id", "env_id", "name", "module", "entry_point", "max_episode_steps", "task", "metric",
    "success_rule", "obs_keys", "state_dim", "make_kwargs", "dims",
}


@dataclass
class DimOverride:
    index: int
    description: str | None
    unit: str | None


@dataclass
class EnvSpecFile:
    path: Path
    env_id: str
    gym_id: str
    name: str | None = None
    module: str | None = None
    entry_point: str | None = None
    max_episode_steps: int | None = None
    task: str | None = None
    metric: str | None = None
    success_rule: str | None = None
    obs_keys: tuple[str, ...] | None = None
    state_dim: int | None = None
    make_kwargs: dict[str, Any] = field(default_factory=dict)
    dims: list[DimOverride] = field(default_factory=list)


def _str(data: dict[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise BadInput(f"{where}: {key} must be a non-empty string")
    return value.strip() if isinstance(value, str) else None


def _int(data: dict[str, Any], key: str, where: str, minimum: int) -> int | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < minimum):
        raise BadInput(f"{where}: {key} must be an integer >= {minimum}")
    return value


def load_spec_file(path: str | Path, env_id: str | None = None) -> EnvSpecFile:
    """Parse and validate the TOML (BadInput with a one-line reason on any problem).

    `env_id` (e.g. from --env) is used as the gymnasium id only when the file names none.
    """
    p = Path(path).expanduser()
    where = str(p)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"env spec file not found: {where}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read env spec file {where}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{where} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise BadInput(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KNOWN_KEYS))}")
    gym_id = _str(data, "gym_id", where) or _str(data, "env_id", where) or (env_id or "").strip() or None
    if gym_id is None:
        raise BadInput(f"{where}: gym_id is required (the gymnasium id to make)")
    metric = _str(data, "metric", where)
    if metric is not None and metric not in ("return", "success_rate"):
        raise BadInput(f"{where}: metric must be 'return' or 'success_rate', not {metric!r}")
    obs_keys = data.get("obs_keys")
    if obs_keys is not None and (not isinstance(obs_keys, list) or not obs_keys
                                 or not all(isinstance(k, str) and k for k in obs_keys)):
        raise BadInput(f"{where}: obs_keys must be a non-empty list of strings")
    make_kwargs = data.get("make_kwargs", {})
    if not isinstance(make_kwargs, dict):
        raise BadInput(f"{where}: make_kwargs must be a table")
    return EnvSpecFile(
        path=p, env_id=_str(data, "env_id", where) or gym_id, gym_id=gym_id, name=_str(data, "name", where),
        module=_str(data, "module", where), entry_point=_str(data, "entry_point", where),
        max_episode_steps=_int(data, "max_episode_steps", where, 1), task=_str(data, "task", where),
        metric=metric, success_rule=_str(data, "success_rule", where),
        obs_keys=tuple(obs_keys) if obs_keys else None, state_dim=_int(data, "state_dim", where, 1),
        make_kwargs=dict(make_kwargs), dims=_dim_overrides(data.get("dims", []), where),
    )


def _dim_overrides(raw: Any, where: str) -> list[DimOverride]:
    if not isinstance(raw, list) or not all(isinstance(d, dict) for d in raw):
        raise BadInput(f"{where}: dims must be an array of tables ([[dims]])")
    out: list[DimOverride] = []
    seen: set[int] = set()
    for n, d in enumerate(raw):
        label = f"{where}: dims entry {n + 1}"
        extra = sorted(set(d) - {"index", "description", "unit"})
        if extra:
            raise BadInput(f"{label}: unknown key(s) {', '.join(extra)}")
        index = _int(d, "index", label, 0)
        if index is None:
            raise BadInput(f"{label}: index is required")
        if index in seen:
            raise BadInput(f"{label}: index {index} is given twice")
        seen.add(index)
        description, unit = _str(d, "description", label), _str(d, "unit", label)
        if description is None and unit is None:
            raise BadInput(f"{label}: give a description and/or a unit")
        out.append(DimOverride(index, description, unit))
    return out


def prepare(spec: EnvSpecFile) -> None:
    """Import the spec's module / register its entry point so gymnasium.make finds gym_id."""
    folder = str(spec.path.resolve().parent)
    if (spec.module or spec.entry_point) and folder not in sys.path:
        sys.path.insert(0, folder)  # modules next to the TOML file win
    if spec.module:
        try:
            importlib.import_module(spec.module)
        except Exception as exc:  # noqa: BLE001 - user code: any failure is bad input, one line
            raise BadInput(f"{spec.path}: cannot import module {spec.module!r}: {type(exc).__name__}: {exc}") from None
    if spec.entry_point:
        import gymnasium  # here, not at the top: reading a spec file must not load a simulator

        if spec.gym_id not in gymnasium.registry:
            gymnasium.register(spec.gym_id, entry_point=spec.entry_point,
                               max_episode_steps=spec.max_episode_steps)


def info_from_spec_file(path: str | Path, env_id: str | None = None) -> EnvInfo:
    spec = load_spec_file(path, env_id)
    base = _base_info(spec)
    dims = [DimInfo(d.index, d.description, d.unit) for d in base.dims]
    for o in spec.dims:
        if o.index >= len(dims):
            raise BadInput(f"{spec.path}: dims index {o.index} is out of range: the observation of "
                           f"{spec.gym_id} has {len(dims)} dims (0..{len(dims) - 1})")
        dims[o.index] = DimInfo(o.index, o.description or dims[o.index].description, o.unit or dims[o.index].unit)
    if spec.state_dim is not None and spec.state_dim != len(dims):
        raise BadInput(f"{spec.path}: state_dim = {spec.state_dim}, but the observation of "
                       f"{spec.gym_id} has {len(dims)} dims")
    metric = spec.metric or base.metric
    return replace(
        base, env_id=spec.env_id, dims=dims, state_dim=len(dims), task=spec.task or base.task,
        metric=metric, success_rule=spec.success_rule or (base.success_rule if metric == "success_rate" else None),
        name=spec.name or (base.name if spec.env_id == base.env_id else spec.env_id),
        gym_id=spec.gym_id, make_kwargs=dict(spec.make_kwargs), family=base.family or "custom",
    )


def resolve_spec(spec: EnvSpecFile) -> bool:
    """Prepare the spec's env and normalise it in place: gym_id becomes canonical (old ids mapped);
    a catalogued env keeps its catalogue build options unless the file overrides them. Returns True
    when the env is exactly a catalogued one (same build), so the catalogue text applies as is."""
    prepare(spec)
    canonical = alias_of(spec.gym_id)
    if canonical is None:
        if not ensure_registered(spec.gym_id):
            raise BadInput(f"{spec.path}: gymnasium id {spec.gym_id!r} is not registered "
                           "(add module = ... or entry_point = ... to the file)")
        return False
    base = CATALOGUE[canonical]()
    exact = not spec.make_kwargs and spec.obs_keys in (None, base.obs_keys)
    spec.gym_id = base.gym_id or canonical
    spec.make_kwargs = {**base.make_kwargs, **spec.make_kwargs}
    spec.obs_keys = spec.obs_keys or base.obs_keys or None
    return exact


def _base_info(spec: EnvSpecFile) -> EnvInfo:
    if resolve_spec(spec):
        canonical = alias_of(spec.gym_id)
        assert canonical is not None  # resolve_spec found it in the catalogue
        return CATALOGUE[canonical]()
    return describe_env(spec.gym_id, spec.make_kwargs, spec.obs_keys)
