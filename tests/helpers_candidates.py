"""Helpers for the candidates tests: the corpus under tests/data/candidates and real env states."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).parent / "data" / "candidates"


@dataclass(frozen=True)
class HostileCase:
    name: str
    source: str
    expect: str  # a substring of the rejection reason
    layer: str  # "policy" (AST, in-process) | "sandbox" (needs the worker)


@dataclass(frozen=True)
class ValidCase:
    name: str
    source: str
    env_id: str


def _header(source: str, key: str) -> str:
    for line in source.splitlines()[:3]:
        if line.startswith(f"# {key}: "):
            return line[len(f"# {key}: "):].strip()
    raise ValueError(f"corpus file lacks a '# {key}:' header")


def hostile_cases() -> list[HostileCase]:
    cases = []
    for path in sorted((CORPUS / "hostile").glob("*.py")):
        text = path.read_text()
        cases.append(HostileCase(path.stem, text, _header(text, "expect"), _header(text, "layer")))
    return cases


def valid_cases() -> list[ValidCase]:
    """Valid files as `lesr candidate check` reads them (a `__main__` demo block dropped)."""
    from lesr_local.candidates.extract import drop_main_block

    return [ValidCase(p.stem, drop_main_block(p.read_text()), _header(p.read_text(), "env"))
            for p in sorted((CORPUS / "valid").glob("*.py"))]


@functools.lru_cache(maxsize=8)
def real_states(env_id: str, n: int = 64) -> np.ndarray:
    """States from short random rollouts of the real MuJoCo env."""
    from lesr_local.envs import sample_states

    return np.asarray(sample_states(env_id, n, seed=0), dtype=np.float64)
