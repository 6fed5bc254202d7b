"""Env id resolution: catalogued ids, the older ids the paper used (-v4 / -v2), other gymnasium ids."""

from __future__ import annotations

import difflib
import re

from lesr_local.envs.entries import CATALOGUE
from lesr_local.envs.registry import all_gym_ids, ensure_registered
from lesr_local.errors import BadInput

VERSION = re.compile(r"^(?P<base>.+)-v(?P<version>\d+)$")  # "Hopper-v5": base "Hopper", version 5


def catalogued_ids() -> list[str]:
    return list(CATALOGUE)


def _norm(name: str) -> str:
    # "AntMaze_Open_Dense", "antmaze-opendense" and "AntMaze_OpenDense" all mean the same base name.
    return re.sub(r"[^a-z0-9]", "", name.lower())


def alias_of(env_id: str) -> str | None:
    """The catalogued id an older or differently spelled id stands for (None if none).

    Same base name up to case and "_"/"-" ("AntMaze_Open_Dense-v4"), and a version no newer than
    the catalogued one (or none): "Hopper-v4" -> "Hopper-v5", but "Hopper-v9" is unknown.
    """
    ids = catalogued_ids()
    if env_id in ids:
        return env_id
    match = VERSION.match(env_id)
    base, version = (match.group("base"), int(match.group("version"))) if match else (env_id, None)
    for cat in ids:
        cat_match = VERSION.match(cat)
        assert cat_match is not None  # catalogued ids always carry a version
        if _norm(cat_match.group("base")) == _norm(base) and (
            version is None or version <= int(cat_match.group("version"))
        ):
            return cat
    return None


def resolve_env_id(env_id: str) -> str:
    """Canonical id: a catalogued id (old versions mapped) or a registered gymnasium id.

    Raises BadInput naming close matches for anything else.
    """
    env_id = (env_id or "").strip()
    if not env_id:
        raise BadInput("empty env id; `lesr envs` lists the catalogued envs")
    alias = alias_of(env_id)
    if alias is not None:
        return alias
    if ensure_registered(env_id):
        return env_id
    candidates = catalogued_ids() + [i for i in all_gym_ids() if i not in catalogued_ids()]
    close = difflib.get_close_matches(env_id, candidates, n=4, cutoff=0.5)
    if not close:  # case-insensitive second chance ("hopper-v5")
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[c] for c in difflib.get_close_matches(env_id.lower(), list(lowered), n=4, cutoff=0.5)]
    hint = f"; did you mean {', '.join(close)}?" if close else "; `lesr envs` lists the catalogued envs"
    raise BadInput(f"unknown env id {env_id!r}{hint}")
