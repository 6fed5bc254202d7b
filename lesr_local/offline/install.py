#!/usr/bin/env python3
"""Install lesr-local from an offline bundle: verify its manifest, then pip --no-index from its wheels.

Standard library only: this runs before lesr-local (or anything else) is installed. `make bundle` copies
this file into every bundle as install.py, and `make setup OFFLINE=DIR` runs the checkout's copy.

Nothing changes on the machine until the whole bundle checks out: the platform and Python it was built
for, every file present with its sha256, no unlisted wheel, and every wheel's tags supported by the
target Python. A refusal is one line naming the problem (exit 2); a failed pip step exits 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath
from typing import Any

MANIFEST = "manifest.json"
FORMAT = 1
WHEELS = "wheels"
EXIT_FAILED = 1
EXIT_REFUSED = 2

# Run by the target interpreter: what it is, and (given pip's wheel on argv) the wheel tags it accepts.
# pip's vendored `packaging` is the same code pip uses to decide, so a wheel it lists will install.
FACTS_SNIPPET = r"""
import json, platform, sys, sysconfig
tags = []
if len(sys.argv) > 1:
    sys.path.insert(0, sys.argv[1])
    try:
        from pip._vendor.packaging.tags import sys_tags
        tags = [str(t) for t in sys_tags()]
    except Exception:
        tags = []
print(json.dumps({
    "system": platform.system(), "machine": platform.machine(),
    "implementation": sys.implementation.name, "python": "%d.%d" % sys.version_info[:2],
    "libc": " ".join(platform.libc_ver()).strip(), "sysconfig_platform": sysconfig.get_platform(),
    "tags": tags,
}))
"""
PLATFORM_KEYS = ("system", "machine", "implementation", "python")
# CPU features a natively compiled llama.cpp may use (x86 flags, then aarch64 "Features"): a bundle
# built on an AVX-512 machine would die of SIGILL on an older CPU, so the target must have them all.
SIMD_FLAGS = frozenset({
    "sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "avx_vnni", "avx512f",
    "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512vbmi",
    "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "i8mm", "sve", "sve2", "bf16",
})


class BundleRefused(Exception):
    """The bundle cannot be installed here. The message is one line naming the problem."""


class InstallFailed(Exception):
    """A step of the install itself failed (after the bundle was verified)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(4 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def interpreter_facts(python: str, pip_wheel: Path | None = None) -> dict[str, Any]:
    """Platform facts of `python` (-E -s: no PYTHONPATH or user site may change the answer)."""
    cmd = [python, "-E", "-s", "-c", FACTS_SNIPPET, *([str(pip_wheel)] if pip_wheel else [])]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except OSError as exc:
        raise BundleRefused(f"cannot run the Python {python}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BundleRefused(f"cannot run the Python {python}: {last}")
    return dict(json.loads(proc.stdout))


def cpu_simd_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str] | None:
    """The SIMD features of this CPU (None where /proc/cpuinfo is absent: not Linux)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return sorted(set(value.split()) & SIMD_FLAGS)
    return []


def describe_platform(facts: dict[str, Any]) -> str:
    impl = {"cpython": "CPython", "pypy": "PyPy"}.get(str(facts.get("implementation")), facts.get("implementation"))
    return f"{facts.get('system')} {facts.get('machine')} {impl} {facts.get('python')}"


def wheel_tags(filename: str) -> set[str]:
    """The `python-abi-platform` tags a wheel file name declares (compressed tag sets expanded)."""
    parts = filename[: -len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise BundleRefused(f"{filename} is not a wheel file name")
    py, abi, plat = parts[-3:]
    return {f"{x}-{y}-{z}" for x in py.split(".") for y in abi.split(".") for z in plat.split(".")}


def load_manifest(bundle: Path) -> dict[str, Any]:
    if bundle.is_file() and bundle.name.endswith((".tar", ".tar.gz")):
        raise BundleRefused(f"{bundle} is the tarball; unpack it first (tar xf {bundle}) and pass the folder")
    if not bundle.is_dir():
        raise BundleRefused(f"{bundle} is not a folder")
    path = bundle / MANIFEST
    if not path.is_file():
        raise BundleRefused(f"{bundle} has no {MANIFEST}: not a lesr-local bundle")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleRefused(f"cannot read {path}: {exc}") from None
    except ValueError as exc:
        raise BundleRefused(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise BundleRefused(f"{path} has format {found!r}; this installer reads format {FORMAT}")
    for key in ("platform", "files", "steps", "pip_wheel"):
        if key not in manifest:
            raise BundleRefused(f"{path} is malformed: no '{key}'")
    files, steps = manifest["files"], manifest["steps"]
    if not isinstance(files, dict) or not all(isinstance(e, dict) for e in files.values()):
        raise BundleRefused(f"{path} is malformed: 'files' must map paths to {{sha256, size}}")
    if not isinstance(steps, list) or not all(isinstance(st, dict) and isinstance(st.get("requirements"), list)
                                              for st in steps):
        raise BundleRefused(f"{path} is malformed: each of 'steps' needs a list of requirements")
    for rel in files:
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts:
            raise BundleRefused(f"{path} lists a path outside the bundle: {rel}")
    return manifest


def check_platform(manifest: dict[str, Any], facts: dict[str, Any], python: str) -> None:
    built = manifest["platform"]
    if any(built.get(k) != facts.get(k) for k in PLATFORM_KEYS):
        raise BundleRefused(
            f"bundle built for {describe_platform(built)}, but {python} is {describe_platform(facts)}; "
            "build the bundle on a machine like the target (same OS, CPU architecture and Python version)"
        )
    needed = built.get("cpu_flags")
    have = cpu_simd_flags()
    if needed and have is not None and (missing := sorted(set(needed) - set(have))):
        raise BundleRefused(
            f"the bundle's llama.cpp was compiled for a CPU with {', '.join(missing)}, which this CPU lacks; "
            'build the bundle with CMAKE_ARGS="-DGGML_NATIVE=off" (portable, a little slower)'
        )


def check_files(bundle: Path, manifest: dict[str, Any]) -> None:
    files: dict[str, Any] = manifest["files"]
    for rel, entry in sorted(files.items()):
        path = bundle / rel
        if not path.is_file():
            raise BundleRefused(f"missing file {rel} in {bundle}")
        size = path.stat().st_size
        if size != entry.get("size"):
            raise BundleRefused(f"{rel} has {size} bytes, the manifest says {entry.get('size')}: the file is damaged")
        actual = sha256_file(path)
        if actual != entry.get("sha256"):
            raise BundleRefused(
                f"bad checksum for {rel}: sha256 {actual[:16]}…, the manifest says {str(entry.get('sha256'))[:16]}…"
            )
    # pip would pick up any wheel in the folder, so an unlisted one is refused too.
    for wheel in sorted((bundle / WHEELS).glob("*")):
        rel = f"{WHEELS}/{wheel.name}"
        if rel not in files:
            raise BundleRefused(f"unlisted file {rel} in {bundle} (not in the manifest)")


def check_tags(manifest: dict[str, Any], facts: dict[str, Any], python: str) -> None:
    supported = set(facts.get("tags") or [])
    if not supported:
        raise BundleRefused(f"cannot list the wheel tags {python} supports (the bundle's pip wheel did not load)")
    for rel in sorted(manifest["files"]):
        if rel.startswith(f"{WHEELS}/") and rel.endswith(".whl"):
            name = PurePosixPath(rel).name
            tags = wheel_tags(name)
            if not tags & supported:
                raise BundleRefused(
                    f"{name} ({', '.join(sorted(tags))}) cannot install on {python}, "
                    f"which takes e.g. {facts['tags'][0]}: build the bundle on a machine like the target"
                )


def check_source(manifest: dict[str, Any], editable: Path) -> None:
    """An editable install must be of the same pyproject.toml the wheels were resolved for."""
    pyproject = editable / "pyproject.toml"
    if not pyproject.is_file():
        raise BundleRefused(f"{editable} has no pyproject.toml: not a lesr-local checkout")
    expected = manifest.get("project", {}).get("pyproject_sha256")
    if expected and sha256_file(pyproject) != expected:
        raise BundleRefused(
            f"{pyproject} differs from the one this bundle was built from; build the bundle from this "
            f"checkout (make bundle), or use the source inside the bundle ({manifest.get('source', 'src/')})"
        )


def verify_bundle(bundle: Path, python: str, editable: Path | None = None) -> dict[str, Any]:
    """Every check, cheapest first; raises BundleRefused. Nothing is written anywhere."""
    manifest = load_manifest(bundle)
    check_platform(manifest, interpreter_facts(python), python)
    check_files(bundle, manifest)
    facts = interpreter_facts(python, bundle / manifest["pip_wheel"])
    check_tags(manifest, facts, python)
    if editable is not None:
        check_source(manifest, editable)
    return manifest


def _pip_env() -> dict[str, str]:
    """pip sees the bundle and nothing else: no config files, no PIP_* from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_INPUT="1")
    return env


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    print(f"lesr-local offline install: {what}", flush=True)
    try:
        code = subprocess.run(cmd, env=env).returncode
    except OSError as exc:
        raise InstallFailed(f"{what}: cannot run {cmd[0]}: {exc.strerror or exc}") from None
    if code != 0:
        raise InstallFailed(f"{what} failed (exit {code}); its output is above")


def install_bundle(bundle: Path, manifest: dict[str, Any], venv: Path, python: str,
                   editable: Path | None = None) -> None:
    """Create (or reuse) the venv and run the manifest's pip steps from the bundle's wheels only."""
    wheels = (bundle / WHEELS).resolve()
    vpy = venv / "bin" / "python"
    if not vpy.exists():
        # --without-pip: ensurepip is missing on some distributions; pip comes from the bundle instead.
        _run([python, "-m", "venv", "--without-pip", str(venv)], f"creating {venv}")
    pip_wheel = (bundle / manifest["pip_wheel"]).resolve()
    env = _pip_env()
    for step in manifest["steps"]:
        requirements = list(step["requirements"])
        if editable is not None and step.get("project"):
            requirements = ["-e", f"{editable.resolve()}[{step['extras']}]" if step.get("extras")
                            else str(editable.resolve())]
        # pip runs from its own wheel for the first step: the new venv has no pip yet.
        runner = [str(vpy), str(pip_wheel / "pip")] if step.get("bootstrap") else [str(vpy), "-m", "pip"]
        cmd = [*runner, "install", "--no-index", "--find-links", str(wheels), "--progress-bar", "off",
               *(["--no-deps"] if step.get("no_deps") else []), *requirements]
        _run(cmd, f"{step.get('what', 'pip install')}: {' '.join(requirements)}", env)
    for argv in manifest.get("post_install", []):
        _run([str(venv / "bin" / argv[0]), *argv[1:]], " ".join(argv))


def _default_bundle() -> Path | None:
    here = Path(__file__).resolve().parent
    return here if (here / MANIFEST).is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="install.py", description="Install lesr-local from an offline bundle (no network used).")
    parser.add_argument("bundle", nargs="?", type=Path, default=_default_bundle(),
                        help="the bundle folder (default: the folder holding this script, if it is a bundle)")
    parser.add_argument("--venv", type=Path, default=Path(".venv"), help="virtualenv to create or update")
    parser.add_argument("--editable", type=Path, metavar="SRC",
                        help="install this lesr-local checkout in editable mode instead of the bundled wheel")
    parser.add_argument("--verify-only", action="store_true", help="check the bundle and stop")
    args = parser.parse_args(argv)
    if args.bundle is None:
        parser.error("give the bundle folder")
    venv_python = args.venv / "bin" / "python"
    if args.venv.exists() and not venv_python.exists():
        print(f"lesr-local bundle refused: {args.venv} exists but is not a virtualenv", file=sys.stderr)
        return EXIT_REFUSED
    # The Python that will run lesr-local: the existing venv's, else this one (which creates the venv).
    python = str(venv_python) if venv_python.exists() else sys.executable
    started = time.monotonic()
    try:
        manifest = verify_bundle(args.bundle, python, args.editable)
        count = len(manifest["files"])
        size = sum(int(e.get("size", 0)) for e in manifest["files"].values())
        print(f"lesr-local bundle OK: {count} files, {size / 1e9:.2f} GB, built for "
              f"{describe_platform(manifest['platform'])} (checked in {time.monotonic() - started:.1f} s)", flush=True)
        if args.verify_only:
            return 0
        install_bundle(args.bundle, manifest, args.venv, python, args.editable)
    except BundleRefused as exc:
        print(f"lesr-local bundle refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except InstallFailed as exc:
        print(f"lesr-local offline install failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("lesr-local offline install interrupted", file=sys.stderr)
        return 130
    print(f"lesr-local installed into {args.venv} from {args.bundle} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
