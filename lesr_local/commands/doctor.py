"""`lesr doctor [--json]`: is this machine ready? One check per requirement, with a hint when not.

The network check is information only (an air-gapped machine is a supported setup, not a fault).

Anything that could crash natively (llama.cpp, OpenGL) runs in a subprocess, so doctor itself always
finishes and reports.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import asdict, dataclass, field
from typing import Any

from lesr_local.cli import add_home_option

MIN_FREE_DISK = 2 * 1024**3  # a run keeps checkpoints, videos and the store


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    hint: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="check llama.cpp, torch, MuJoCo rendering, models, disk; report network access")
    add_home_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    parser.add_argument("--no-llm-run", action="store_true", help="skip loading the default model")
    parser.add_argument("--ray-address", default=None, metavar="HOST:PORT|auto",
                        help="also connect to this Ray cluster and list its nodes and CPUs")
    parser.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from lesr_local.output import print_json

    checks = [
        _check_llama(), _check_models(run=not args.no_llm_run), _check_torch(), _check_mujoco(),
        _check_workspace(args), _check_sandbox(), _check_network(), _check_ray(args.ray_address),
    ]
    ok = all(c.ok for c in checks)
    # An explicit --ray-address that cannot be joined is bad input, as it is for `lesr run` (exit 2).
    bad_address = args.ray_address is not None and not next(c for c in checks if c.name == "ray").ok
    if args.json:
        print_json({"ok": ok, "checks": [asdict(c) for c in checks]})
    else:
        for c in checks:
            mark = "ok  " if c.ok else "FAIL"
            print(f"[{mark}] {c.name}: {c.detail}")
            if not c.ok and c.hint:
                print(f"       hint: {c.hint}")
    return 0 if ok else 2 if bad_address else 1


def _check_llama() -> Check:
    try:
        import llama_cpp
    except ImportError as exc:
        return Check("llama.cpp", False, f"llama-cpp-python is not importable ({exc})",
                     "run `make setup` (builds llama-cpp-python from source, ~13 min)")
    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    gpu = bool(llama_cpp.llama_supports_gpu_offload())
    # "CPU : SSE3 = 1 | AVX = 1 | ..." -> the names of the enabled features
    features = sorted({part.split("=")[0].split(":")[-1].strip() for part in info.split("|")
                       if part.strip().endswith("= 1")})
    version = getattr(llama_cpp, "__version__", "?")
    detail = f"llama-cpp-python {version}, GPU offload {'yes' if gpu else 'no'}, features: {', '.join(features)}"
    return Check("llama.cpp", True, detail, data={"version": version, "gpu_offload": gpu, "system_info": info})


def _check_models(run: bool) -> Check:
    from lesr_local.errors import LesrError
    from lesr_local.llm.discovery import discover_models, scan_models

    try:
        models = discover_models()
    except LesrError as exc:
        return Check("models", False, str(exc), "run `lesr models prepare`")
    _, problems = scan_models(prepare_default=False)
    if not models:
        return Check("models", False, "no GGUF model found",
                     "run `lesr models prepare` (bundled default) or `lesr models add FILE`")
    default = next((m for m in models if m.default), models[0])
    data: dict[str, Any] = {"models": [m.to_json() for m in models],
                            "skipped": [p.to_json() for p in problems]}
    by_source: dict[str, int] = {}
    for m in models:
        by_source[m.source] = by_source.get(m.source, 0) + 1
    sources = ", ".join(f"{source} {n}" for source, n in by_source.items())
    detail = f"{len(models)} found ({sources}), default {default.name} ({default.source})"
    if problems:
        detail += f"; {len(problems)} unusable file(s): {problems[0].reason}"
    if not run:
        return Check("models", True, detail, data=data)
    from lesr_local.llm.client import GenerationParams, LLMClient

    try:
        with LLMClient(default, n_ctx=512) as client:
            gen = client.generate("def f(x):", GenerationParams(max_tokens=4, seed=0))
            data["runtime"] = {"load_s": client.load_seconds, "safe_mode": client.safe_mode,
                               "n_threads": client.n_threads, "tokens": gen.completion_tokens}
    except LesrError as exc:
        return Check("models", False, f"{detail}; loading {default.name} failed: {exc}",
                     "see the worker log in the user cache (logs/llm-worker.log)", data)
    detail += f"; loads in {client.load_seconds or 0:.1f} s and generates"
    if client.safe_mode:
        detail += " (safe mode: extra CPU buffer types off)"
    return Check("models", True, detail, data=data)


def _check_torch() -> Check:
    try:
        import torch
    except ImportError as exc:
        return Check("torch", False, f"torch is not importable ({exc})", "run `make setup`")
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = "mps"
    else:
        device = "cpu"
    return Check("torch", True, f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads",
                 data={"version": torch.__version__, "device": device.split(" ")[0]})


def _check_mujoco() -> Check:
    try:
        import mujoco
    except ImportError as exc:
        return Check("mujoco", False, f"mujoco is not importable ({exc})", "run `make setup`")
    from lesr_local.render.gl import BACKENDS, probe_backend

    reasons: dict[str, str] = {}
    for backend in BACKENDS:  # EGL first, then OSMesa; each in a subprocess
        reason = probe_backend(backend)
        if reason is None:
            return Check("mujoco", True, f"MuJoCo {mujoco.__version__}, offscreen rendering with MUJOCO_GL={backend}",
                         data={"version": mujoco.__version__, "gl_backend": backend, "failed": reasons})
        reasons[backend] = reason
    tried = "; ".join(f"{b}: {r}" for b, r in reasons.items())
    return Check("mujoco", False, f"MuJoCo {mujoco.__version__}, no offscreen frame renders ({tried})",
                 "install EGL (libegl1 + Mesa) or OSMesa (libosmesa6); training works without it, videos do not",
                 data={"version": mujoco.__version__, "gl_backend": None, "failed": reasons})


def _check_network() -> Check:
    """Information, never a failure: lesr-local opens no connection beyond this machine either way."""
    from lesr_local.network import network_access

    found = network_access()
    return Check("network", True, f"{found.describe()}; lesr-local needs none",
                 data={"access": found.access, "interfaces": found.interfaces,
                       "default_route": found.default_route})


def _check_ray(address: str | None) -> Check:
    """Ray is optional (only `--executor ray` needs it); with an address, the cluster must answer."""
    from lesr_local.trainings.executors import ray_installed

    if not ray_installed():
        if address is not None:
            return Check("ray", False, "Ray is not installed", "pip install 'lesr-local[ray]' (make setup does)")
        return Check("ray", True, "not installed (only --executor ray needs it)",
                     "pip install 'lesr-local[ray]'", data={"installed": False})
    import ray

    data: dict[str, Any] = {"installed": True, "version": ray.__version__}
    if address is None:
        return Check("ray", True, f"Ray {ray.__version__} installed", data=data)
    from lesr_local.errors import BadInput
    from lesr_local.trainings import ray_executor

    try:
        ray_executor.connect(address)
    except BadInput as exc:
        hint = None if "auth token" in str(exc) else "start the head with `ray start --head` (see the README)"
        return Check("ray", False, str(exc), hint, data)
    try:
        nodes = [n for n in ray_executor.cluster_nodes() if n.alive]
    finally:
        ray_executor.disconnect()
    data["address"] = address
    data["nodes"] = [{"node_id": n.node_id, "host": n.host, "cpus": n.cpus} for n in nodes]
    listing = ", ".join(f"{n.host} {n.node_id[:8]} ({n.cpus:g} CPUs)" for n in nodes)
    return Check("ray", True, f"Ray {ray.__version__}, cluster {address}: {len(nodes)} node(s), "
                 f"{sum(n.cpus for n in nodes):g} CPUs: {listing}", data=data)


def _check_workspace(args: argparse.Namespace) -> Check:
    from lesr_local.errors import BadInput
    from lesr_local.workspace import home_from

    try:
        home = home_from(args)
    except BadInput as exc:
        return Check("workspace", False, str(exc), "pass a writable --home DIR or set LESR_HOME")
    free = shutil.disk_usage(home).free
    detail = f"{home}: {free / 1024**3:.1f} GB free"
    data = {"home": str(home), "free_bytes": free}
    if free < MIN_FREE_DISK:
        return Check("workspace", False, detail, f"free at least {MIN_FREE_DISK / 1024**3:.0f} GB", data)
    return Check("workspace", True, detail, data=data)


# The walls every sandboxed worker should have on Linux; the others depend on the kernel and privileges.
ESSENTIAL_WALLS = ("seccomp", "read-only-fs", "rlimit:as", "rlimit:cpu")


NAMESPACE_WALLS = ("user-namespace", "mount-namespace", "network-namespace", "ipc-namespace")


def _check_sandbox() -> Check:
    """Start a real check worker, read back which walls it managed to put up, and say whether it
    would load candidate code (the walls fail closed: no seccomp, no candidate code)."""
    from lesr_local.candidates.checks import sandbox_walls
    from lesr_local.errors import LesrError
    from lesr_local.sandbox.limits import OPT_OUT

    try:
        report = sandbox_walls()
    except LesrError as exc:
        return Check("sandbox", False, f"the sandbox worker did not start: {exc}",
                     "run `lesr doctor` from the project's virtual environment")
    walls = list(report.get("walls") or [])
    missing = [w for w in ESSENTIAL_WALLS if w not in walls]
    no_namespaces = [w for w in NAMESPACE_WALLS if w not in walls]
    refused = report.get("refused")
    data = {"walls": walls, "notes": report.get("notes", []), "missing": missing,
            "missing_namespaces": no_namespaces, "candidate_code": "refused" if refused else "allowed",
            "refused": refused}
    verdict = ("candidate code would be REFUSED on this machine" if refused
               else "candidate code runs here" if report.get("probe_valid")
               else "a harmless probe candidate failed in the sandbox")
    detail = f"{verdict}; walls up: " + (", ".join(walls) if walls else "none")
    if no_namespaces:
        detail += f"; namespaces not created (best effort, seccomp covers them): {', '.join(no_namespaces)}"
    if refused or missing or not report.get("probe_valid"):
        hint = (f"the seccomp filter cannot be installed here; candidate code needs Linux on x86_64 or aarch64 "
                f"with seccomp, or the explicit opt-out {OPT_OUT}; see README 'Safety'")
        return Check("sandbox", False, detail + f"; missing: {', '.join(missing) or 'none'}", hint, data)
    return Check("sandbox", True, detail, data=data)
