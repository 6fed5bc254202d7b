"""The trained policy on disk: actor weights + what is needed to run it on raw env states.

`load_policy(path).act(features)` maps F(s) (the candidate's revise_state output, or the raw state
for the baseline) to an action; the renderer runs it in its sandbox worker next to revise_state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesr_local.rl.checkpoint import FileWriter, torch_bytes, write_atomic
from lesr_local.rl.networks import Actor

FORMAT_VERSION = 1


@dataclass
class PolicyMeta:
    env_id: str
    obs_dim: int  # the source state dim
    feature_dim: int  # the actor's input dim (= obs_dim for the baseline)
    act_dim: int
    act_low: list[float]
    act_high: list[float]
    hidden_sizes: tuple[int, ...]
    candidate_source: str | None
    seed: int
    steps: int
    score: float | None


@dataclass
class LoadedPolicy:
    meta: PolicyMeta
    actor: Actor

    @torch.no_grad()
    def act(self, features: np.ndarray) -> np.ndarray:
        """F(s) of shape (feature_dim,) or (n, feature_dim) -> action(s), float64 inside the box."""
        x = torch.as_tensor(np.asarray(features, dtype=np.float32))
        return self.actor(x).numpy().astype(np.float64)


def save_policy(path: Path, actor: Actor, meta: PolicyMeta, writer: FileWriter = write_atomic) -> Path:
    state = {k: v.detach().cpu() for k, v in actor.state_dict().items()}
    writer(Path(path), torch_bytes({"format": FORMAT_VERSION, "meta": asdict(meta), "actor": state}))
    return Path(path)


def load_policy(path: str | Path) -> LoadedPolicy:
    blob: dict[str, Any] = torch.load(Path(path), map_location="cpu", weights_only=True)
    if blob.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: unknown policy format {blob.get('format')!r}")
    raw = blob["meta"]
    meta = PolicyMeta(**{**raw, "hidden_sizes": tuple(raw["hidden_sizes"])})
    actor = Actor(
        meta.feature_dim, meta.act_dim, meta.hidden_sizes,
        torch.tensor(meta.act_low, dtype=torch.float32), torch.tensor(meta.act_high, dtype=torch.float32),
    )
    actor.load_state_dict(blob["actor"])
    actor.eval()
    return LoadedPolicy(meta, actor)
