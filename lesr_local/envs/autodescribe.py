"""Describe an uncatalogued MuJoCo env automatically, from its model and its real observations.

How: run the env for a few random steps and, at each probe, record the observation together with the
simulator's arrays (qpos, qvel, sin/cos of qpos, cinert, cvel, cfrc_ext, qfrc_actuator, body and site
positions, sensors, ... and clipped variants). Every array entry carries a description derived from
the model (joint / body / site names and types). The observation is then segmented greedily into the
longest runs that equal a contiguous slice of one array at every probe; what no array explains gets a
generic "observation component i" description. The dim count therefore always equals the real size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from lesr_local.envs.build import MakePlan, make_from_plan, observation_keys
from lesr_local.envs.info import DimInfo, EnvInfo
from lesr_local.envs.specs.builders import CFRC_EXT, CINERT, CVEL
from lesr_local.errors import BadInput

_EPISODES = 3  # values must agree at every probe: a reset and a few random steps, per episode
_PROBES_PER_EPISODE = 4
_STEPS_BETWEEN = 10  # long enough for bodies to touch the ground (contact-force blocks)
_RTOL, _ATOL = 1e-5, 1e-7
_MAX_PAIR_BODIES = 24  # body-to-body offsets are only tried on small models (n^2 arrays)
_JOINT_KIND = {0: "free", 1: "ball", 2: "slide", 3: "hinge"}


@dataclass
class Source:
    """One simulator array, flattened, with one (description, unit) per entry."""

    key: str  # e.g. "qpos", "sin(qpos)", "clip(cfrc_ext, 1)"
    labels: list[tuple[str, str]]
    priority: int  # lower wins ties: raw state before derived quantities
    qpos_index: list[int] | None = None  # which qpos entry each element reflects (for "not observed")


@dataclass
class Segment:
    start: int
    length: int
    source: str | None  # None = not explained by the model
    offset: int = 0


# ---------------------------------------------------------------------------------------------------
# Labels from the MuJoCo model


def _name(model: Any, kind: Any, index: int, fallback: str) -> str:
    import mujoco

    name = mujoco.mj_id2name(model, kind, index)
    return name if name else f"{fallback} {index}"


def _body(model: Any, b: int) -> str:
    import mujoco

    return "world" if b == 0 else _name(model, mujoco.mjtObj.mjOBJ_BODY, b, "body")


def _joints(model: Any) -> Iterator[tuple[int, str, str]]:
    """(joint index, kind, "hinge joint 'x' of body 'y'") for every joint of the model."""
    import mujoco

    for j in range(model.njnt):
        name = _name(model, mujoco.mjtObj.mjOBJ_JOINT, j, "joint")
        body = _body(model, int(model.jnt_bodyid[j]))
        kind = _JOINT_KIND.get(int(model.jnt_type[j]), "joint")
        yield j, kind, f"{kind} joint '{name}' of body '{body}'"


def qpos_labels(model: Any) -> list[tuple[str, str]]:

    labels: list[tuple[str, str]] = [("", "")] * model.nq
    for j, kind, where in _joints(model):
        adr = int(model.jnt_qposadr[j])
        if kind == "free":
            parts = [(f"{a} position of {where} (world frame)", "m") for a in "xyz"]
            parts += [(f"orientation quaternion {c} of {where}", "unitless") for c in "wxyz"]
        elif kind == "ball":
            parts = [(f"orientation quaternion {c} of {where}", "unitless") for c in "wxyz"]
        elif kind == "slide":
            parts = [(f"position of {where}", "m")]
        else:
            parts = [(f"angle of {where}", "rad")]
        labels[adr:adr + len(parts)] = parts
    return labels


def dof_labels(model: Any, what: str, slide_unit: str, hinge_unit: str) -> list[tuple[str, str]]:
    """Labels for nv-sized arrays (qvel, qfrc_*): `what` is e.g. "velocity"."""

    labels: list[tuple[str, str]] = [("", "")] * model.nv
    for j, kind, where in _joints(model):
        adr = int(model.jnt_dofadr[j])
        if kind == "free":
            parts = [(f"linear {what} along {a} of {where}", slide_unit) for a in "xyz"]
            parts += [(f"angular {what} about {a} of {where}", hinge_unit) for a in "xyz"]
        elif kind == "ball":
            parts = [(f"angular {what} about {a} of {where}", hinge_unit) for a in "xyz"]
        elif kind == "slide":
            parts = [(f"{what} of {where}", slide_unit)]
        else:
            parts = [(f"angular {what} of {where}", hinge_unit)]
        labels[adr:adr + len(parts)] = parts
    return labels


def _per_body(model: Any, components: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(f"{c} on body '{_body(model, b)}'", u) for b in range(model.nbody) for c, u in components]


def _xyz(names: list[str], what: str) -> list[tuple[str, str]]:
    return [(f"{what} {n}, {a} (world frame)", "m") for n in names for a in "xyz"]


def _sensor_labels(model: Any) -> list[tuple[str, str]]:
    import mujoco

    labels: list[tuple[str, str]] = []
    for s in range(model.nsensor):
        name = _name(model, mujoco.mjtObj.mjOBJ_SENSOR, s, "sensor")
        dim = int(model.sensor_dim[s])
        kind = mujoco.mjtSensor(int(model.sensor_type[s])).name.removeprefix("mjSENS_").lower()
        labels += [(f"{kind} sensor '{name}'" + (f", component {k}" if dim > 1 else ""), "sensor units")
                   for k in range(dim)]
    return labels


# ---------------------------------------------------------------------------------------------------
# Arrays at one probe


def _sources(model: Any) -> list[Source]:
    """The arrays we look for in the observation (descriptions only; values come from _values)."""
    import mujoco

    qpos = qpos_labels(model)
    hinge_q = [(lbl.replace("angle of", "sine of the angle of"), "unitless") for lbl, _ in qpos]
    cos_q = [(lbl.replace("angle of", "cosine of the angle of"), "unitless") for lbl, _ in qpos]
    qvel = dof_labels(model, "velocity", "m/s", "rad/s")
    bodies = [f"'{_body(model, b)}'" for b in range(model.nbody)]
    sites = [f"'{_name(model, mujoco.mjtObj.mjOBJ_SITE, s, 'site')}'" for s in range(model.nsite)]
    out = [
        Source("qpos", qpos, 0, list(range(model.nq))),
        Source("qvel", qvel, 1),
        Source("sin(qpos)", hinge_q, 2, list(range(model.nq))),
        Source("cos(qpos)", cos_q, 2, list(range(model.nq))),
        Source("cinert", _per_body(model, CINERT), 3),
        Source("cvel", _per_body(model, CVEL), 3),
        Source("qfrc_actuator", dof_labels(model, "actuator force", "N", "N*m"), 3),
        Source("cfrc_ext", _per_body(model, CFRC_EXT), 3),
        Source("xipos", _xyz(bodies, "centre of mass of body"), 4),
        Source("xpos", _xyz(bodies, "frame origin of body"), 5),
        Source("site_xpos", _xyz(sites, "position of site"), 5),
        Source("sensordata", _sensor_labels(model), 5),
        Source("qfrc_constraint", dof_labels(model, "constraint force", "N", "N*m"), 6),
        Source("cfrc_int", _per_body(model, [(f"internal {c.removeprefix('external ')}", u) for c, u in CFRC_EXT]), 6),
    ]
    for bound in (1.0, 10.0):
        for base in ("qvel", "cfrc_ext", "qfrc_constraint", "sensordata"):
            src = next(s for s in out if s.key == base)
            labels = [(f"{d} (clipped to [-{bound:g}, {bound:g}])", u) for d, u in src.labels]
            out.append(Source(f"clip({base}, {bound:g})", labels, src.priority + 1))
    if 1 < model.nbody <= _MAX_PAIR_BODIES:
        for a in range(1, model.nbody):
            for b in range(1, model.nbody):
                if a != b:
                    what = f"offset from the centre of mass of body {bodies[b]} to that of body {bodies[a]}"
                    labels = [(f"{what}, {ax}", "m") for ax in "xyz"]
                    out.append(Source(f"xipos[{a}]-xipos[{b}]", labels, 7))
    return out


def _values(model: Any, data: Any, key: str) -> np.ndarray:
    if key.startswith("clip("):
        base, bound = key[5:-1].split(", ")
        return np.clip(_values(model, data, base), -float(bound), float(bound))
    if key == "sin(qpos)":
        return np.sin(data.qpos)
    if key == "cos(qpos)":
        return np.cos(data.qpos)
    pair = re.fullmatch(r"xipos\[(\d+)\]-xipos\[(\d+)\]", key)
    if pair:
        return np.array(data.xipos[int(pair.group(1))] - data.xipos[int(pair.group(2))])
    return np.array(getattr(data, key), dtype=np.float64).ravel()  # a copy: MjData fields are live views


# ---------------------------------------------------------------------------------------------------
# Segmentation


def _run_lengths(obs: np.ndarray, arr: np.ndarray) -> np.ndarray:
    """R[j, s] = how many consecutive entries obs[:, j:] equal arr[:, s:] at every probe."""
    eq = np.all(np.isclose(obs[:, :, None], arr[:, None, :], rtol=_RTOL, atol=_ATOL), axis=0)
    d, n = eq.shape
    runs = np.zeros((d + 1, n + 1), dtype=np.int32)
    for j in range(d - 1, -1, -1):
        runs[j, :n] = eq[j] * (1 + runs[j + 1, 1:])
    return runs[:d, :n]


def segment(obs: np.ndarray, arrays: dict[str, np.ndarray], priority: dict[str, int]) -> list[Segment]:
    """Greedy left-to-right: at each position take the longest run (continuing the previous array
    breaks ties, then priority). A new run must contain a dim that varies across probes: equal
    constants (zeros above all) prove nothing, unless they continue the previous block."""
    runs = {k: _run_lengths(obs, a) for k, a in arrays.items() if a.shape[1]}
    varies = np.ptp(obs, axis=0) > _ATOL
    segments: list[Segment] = []
    j, d = 0, obs.shape[1]
    prev: Segment | None = None
    while j < d:
        best: tuple[int, int, int] | None = None
        choice: Segment | None = None
        for key, r in runs.items():
            s = int(np.argmax(r[j]))
            # Continuing the previous block (next offset of the same array) beats an equal-length
            # coincidence elsewhere, e.g. a run of zero contact forces.
            nxt = prev.offset + prev.length if prev is not None and prev.source == key else -1
            cont = 0 <= nxt < r.shape[1] and r[j, nxt] > 0
            if cont:
                s = nxt
            length = int(r[j, s])
            if length == 0:
                continue
            if not cont and not varies[j:j + length].any():
                continue
            score = (length, int(cont), -priority[key])
            if best is None or score > best:
                best, choice = score, Segment(j, length, key, s)
        if choice is not None:
            segments.append(choice)
            j += choice.length
            prev = choice
        else:
            segments.append(Segment(j, 1, None))
            j += 1
            prev = None
    return segments


# ---------------------------------------------------------------------------------------------------
# Env access


def find_mujoco(env: Any) -> tuple[Any, Any] | None:
    """(model, data) of the env, also when the MuJoCo env is a member (e.g. AntMaze's ant_env)."""
    import mujoco

    base = env.unwrapped
    for obj in [base, *vars(base).values()]:
        model, data = getattr(obj, "model", None), getattr(obj, "data", None)
        if isinstance(model, mujoco.MjModel) and isinstance(data, mujoco.MjData):
            return model, data
    return None


def _doc_summary(env: Any) -> str:
    """First paragraph of the env class's "Description" section, when it documents one."""
    doc = type(env.unwrapped).__doc__ or ""
    match = re.search(r"#+\s*Description\s*\n(.*?)(\n\s*\n|\n\s*#)", doc, re.S)
    text = match.group(1) if match else ""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)  # markdown links -> their text
    text = " ".join(text.replace("`", "").split())
    return text[:700]


def _probe(env: Any, seed: int, keys: list[str]) -> tuple[np.ndarray, list[dict[str, np.ndarray]], bool]:
    """Observations at a few points of random rollouts, with the simulator arrays at each. Probes span
    several episodes (different resets) so per-episode constants such as goal positions vary too."""
    found = find_mujoco(env)
    env.action_space.seed(seed)
    observations: list[np.ndarray] = []
    snapshots: list[dict[str, np.ndarray]] = []
    success_key = False

    def snap(o: np.ndarray) -> None:
        observations.append(np.asarray(o, dtype=np.float64).ravel())
        if found is not None:
            model, data = found
            snapshots.append({key: _values(model, data, key) for key in keys})

    for episode in range(_EPISODES):
        obs, info = env.reset(seed=seed + episode)
        snap(obs)
        for _ in range(_PROBES_PER_EPISODE - 1):
            for _ in range(_STEPS_BETWEEN):
                obs, _, terminated, truncated, info = env.step(env.action_space.sample())
                success_key = success_key or "is_success" in info or "success" in info
                if terminated or truncated:
                    break
            snap(obs)
            if terminated or truncated:
                break
    return np.asarray(observations), snapshots, success_key


def describe_env(env_id: str, make_kwargs: dict[str, Any] | None = None,
                 obs_keys: tuple[str, ...] | None = None, seed: int = 0) -> EnvInfo:
    """An EnvInfo for a registered gymnasium id nobody catalogued (catalogued=False)."""
    plan = MakePlan(env_id, env_id, obs_keys, dict(make_kwargs or {}))
    env = make_from_plan(plan)
    try:
        return _describe(env, env_id, seed, observation_keys(env.env.observation_space, obs_keys))
    finally:
        env.close()


def _describe(env: Any, env_id: str, seed: int, keys: tuple[str, ...]) -> EnvInfo:
    """`keys`: the dict-observation flattening order of the (flattened) env; () for a Box."""
    from gymnasium import spaces

    if not isinstance(env.action_space, spaces.Box):
        raise BadInput(f"{env_id} has a {type(env.action_space).__name__} action space; "
                       "TD3 needs continuous (Box) actions")
    state_dim = int(np.prod(env.observation_space.shape))
    found = find_mujoco(env)
    sources: list[Source] = []
    if found is not None:
        sources = _sources(found[0])
    obs, snapshots, has_success = _probe(env, seed, [s.key for s in sources])

    segments: list[Segment] = [Segment(j, 1, None) for j in range(state_dim)]
    if found is not None and snapshots:
        arrays = {s.key: np.stack([snap[s.key] for snap in snapshots]) for s in sources}
        segments = segment(obs, arrays, {s.key: s.priority for s in sources})
    by_key = {s.key: s for s in sources}
    key_of = _key_names(env, keys)
    dims: list[DimInfo] = []
    for seg in segments:
        for k in range(seg.length):
            j = seg.start + k
            if seg.source is None:
                dims.append(DimInfo(j, f"observation component {j}{key_of[j]} (not identified in the model)",
                                    "unknown"))
            else:
                desc, unit = by_key[seg.source].labels[seg.offset + k]
                dims.append(DimInfo(j, desc + key_of[j], unit))
    assert len(dims) == state_dim  # segmentation covers every index exactly once

    metric = "success_rate" if has_success else "return"
    goal = ("maximise the success rate (the env reports success in its info dict)" if has_success
            else "maximise the episode return")
    task = _task_text(env, env_id, found, segments, by_key, state_dim) + \
        f" The reward is the env's own (see its documentation); {goal}."
    goal_based = bool(keys)
    rule = ("success as reported by the env in info['is_success'] / info['success'] at the last step "
            "of an episode") if has_success else None
    return EnvInfo(
        env_id=env_id, state_dim=state_dim, dims=dims, task=task, metric=metric, success_rule=rule,
        goal_based=goal_based, obs_keys=keys, catalogued=False,
        action_dim=int(np.prod(env.action_space.shape)), name=env_id.split("-v")[0],
        family="mujoco" if found is not None else "custom", gym_id=env_id,
    )


def _key_names(env: Any, keys: tuple[str, ...]) -> list[str]:
    """Per flat index, " [in 'desired_goal']" for dict observations ("" otherwise)."""
    if not keys:
        return [""] * int(np.prod(env.observation_space.shape))
    out: list[str] = []
    inner = env.env.observation_space if hasattr(env, "env") else env.observation_space
    for key in keys:
        out += [f" [in '{key}']"] * int(np.prod(inner.spaces[key].shape))
    return out


def _task_text(env: Any, env_id: str, found: tuple[Any, Any] | None, segments: list[Segment],
               by_key: dict[str, Source], state_dim: int) -> str:
    summary = _doc_summary(env)
    how = "from its MuJoCo model" if found is not None else "from its observation space only"
    parts = [f"{env_id} (not in the LESR catalogue; described automatically {how})."]
    if summary:
        parts.append(f"From the env's documentation: {summary}")
    if found is None:
        parts.append(f"No MuJoCo model was found, so the {state_dim} observation dims could not be "
                     "identified: they carry generic descriptions (observation component i).")
        return " ".join(parts)
    model = found[0]
    parts.append(f"The model has {model.njnt} joints, {model.nbody - 1} bodies and {model.nu} actuators.")
    blocks = [f"{s.source}[{s.offset}:{s.offset + s.length}]" for s in segments if s.source is not None]
    parts.append("Observation layout (inferred): " + ", ".join(blocks) + ".")
    unknown = sum(s.length for s in segments if s.source is None)
    if unknown:
        parts.append(f"{unknown} of {state_dim} dims could not be matched to model quantities and carry "
                     "generic descriptions.")
    seen = {s.offset + k for s in segments if s.source is not None and by_key[s.source].qpos_index is not None
            for k in range(s.length)}
    missing = [by_key["qpos"].labels[i][0] for i in range(model.nq) if i not in seen]
    if missing and len(missing) <= 8:
        parts.append("Not in the observation (excluded positions): " + "; ".join(missing) + ".")
    elif missing:
        parts.append(f"{len(missing)} of {model.nq} qpos entries are not in the observation.")
    return " ".join(parts)
