"""The data the catalogue hands out: one DimInfo per observation dim, one EnvInfo per env."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DimInfo:
    index: int
    description: str
    unit: str


@dataclass
class EnvInfo:
    env_id: str
    state_dim: int
    dims: list[DimInfo]
    task: str
    metric: str  # "return" | "success_rate"
    success_rule: str | None = None  # how success is decided, for goal tasks
    goal_based: bool = False
    obs_keys: tuple[str, ...] = ()  # dict-obs flattening order; () for Box observations
    catalogued: bool = True  # False when described automatically from the MuJoCo model
    action_dim: int | None = None
    name: str = ""  # short human name for the TUI and prompts
    family: str = ""  # "mujoco" | "antmaze" | "fetch" | "adroit" | "custom"
    gym_id: str = ""  # the id passed to gymnasium.make (differs from env_id for custom specs)
    make_kwargs: dict[str, Any] = field(default_factory=dict)  # extra gymnasium.make kwargs

    def to_json(self) -> dict[str, Any]:
        """The `lesr envs show --json` shape (contract keys first)."""
        return {
            "env_id": self.env_id,
            "state_dim": self.state_dim,
            "dims": [{"index": d.index, "description": d.description, "unit": d.unit} for d in self.dims],
            "task": self.task,
            "metric": self.metric,
            "success_rule": self.success_rule,
            "goal_based": self.goal_based,
            "obs_keys": list(self.obs_keys),
            "catalogued": self.catalogued,
            "action_dim": self.action_dim,
            "name": self.name,
        }

    def dim_lines(self) -> list[str]:
        """One prompt line per dim: `s[i]: description (unit)`."""
        return [f"s[{d.index}]: {d.description} ({d.unit})" for d in self.dims]
