"""The trained policy on disk: actor weights + what is needed to run it on raw env states.

`load_policy(path_or_bytes).act(features)` maps F(s) (the candidate's revise_state output, or the
raw state for the baseline) to an action; the renderer runs it in its sandbox worker next to
revise_state. The file is a tensor file (`sandbox.tensorfile`, the safetensors layout): reading it
runs no code. Policies from before that format (torch files) load with `weights_only=True`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesr_local.rl.checkpoint import read_bytes
from lesr_local.rl.networks import Actor
from lesr_local.sandbox.tensorfile import TensorFile, pack, unpack

FORMAT_VERSION = 2  # 1: a torch.save file (still readable, with weights_only=True)
POLICY_SUFFIX = ".safetensors"


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


def to_torch(tree: Any) -> Any:
    """numpy arrays in a loaded tensor-file tree as torch tensors sharing their memory."""
    if isinstance(tree, dict):
        return {k: to_torch(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [to_torch(v) for v in tree]
    if isinstance(tree, np.ndarray):
        return torch.from_numpy(tree) if tree.flags.writeable else torch.from_numpy(tree.copy())
    return tree


def policy_file(actor: Actor, meta: PolicyMeta) -> TensorFile:
    state = {k: v.detach().cpu().contiguous() for k, v in actor.state_dict().items()}
    return pack({"format": FORMAT_VERSION, "meta": asdict(meta), "actor": state})


def load_policy(source: str | Path | bytes | bytearray) -> LoadedPolicy:
    """A policy from its file (a path) or from the file's bytes (what a sandboxed worker receives)."""
    if isinstance(source, (bytes, bytearray)):
        blob = to_torch(unpack(bytearray(source)))
    elif Path(source).suffix == ".pt":
        blob = torch.load(Path(source), map_location="cpu", weights_only=True)
    else:
        blob = to_torch(unpack(read_bytes(Path(source))))
    if blob.get("format") not in (1, FORMAT_VERSION):
        raise ValueError(f"unknown policy format {blob.get('format')!r}")
    raw = blob["meta"]
    meta = PolicyMeta(**{**raw, "hidden_sizes": tuple(raw["hidden_sizes"])})
    actor = Actor(
        meta.feature_dim, meta.act_dim, meta.hidden_sizes,
        torch.tensor(meta.act_low, dtype=torch.float32), torch.tensor(meta.act_high, dtype=torch.float32),
    )
    actor.load_state_dict(blob["actor"])
    actor.eval()
    return LoadedPolicy(meta, actor)
