"""Offline bundles: install.py refuses a damaged or foreign bundle before it changes anything.

The bundle here is small but real: a wheel pip builds from a tiny project, pip's own wheel (the one
ensurepip ships), and a manifest written by the builder's own code. The full bundle (torch, llama.cpp,
the model) is exercised by tests/test_offline_e2e.py in a network namespace.
"""

from __future__ import annotations

import ensurepip
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from lesr_local.offline import build, install

REPO = Path(__file__).resolve().parent.parent
INSTALLER = REPO / "lesr_local" / "offline" / "install.py"
BUNDLED_PIP = sorted((Path(ensurepip.__file__).parent / "_bundled").glob("pip-*.whl"))

pytestmark = pytest.mark.skipif(not BUNDLED_PIP, reason="this Python ships no ensurepip pip wheel to build a bundle from")


def _tiny_wheel(workdir: Path, wheels: Path) -> Path:
    project = workdir / "tinypkg-src"
    (project / "tinypkg").mkdir(parents=True)
    (project / "tinypkg" / "__init__.py").write_text("ANSWER = 42\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tinypkg"\nversion = "1.0"\n')
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(wheels), str(project)], check=True)
    return next(wheels.glob("tinypkg-*.whl"))


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    bundle = root / "bundle"
    wheels = bundle / install.WHEELS
    wheels.mkdir(parents=True)
    _tiny_wheel(root, wheels)
    pip_wheel = shutil.copy2(BUNDLED_PIP[-1], wheels)
    shutil.copy2(INSTALLER, bundle / "install.py")
    pip_version = Path(pip_wheel).name.split("-")[1]
    platform = install.interpreter_facts(sys.executable, Path(pip_wheel))
    platform["tags_top"] = platform.pop("tags")[:5]
    manifest = {
        "format": install.FORMAT, "platform": platform,
        "project": {"name": "tinypkg", "version": "1.0",
                    "pyproject_sha256": install.sha256_file(root / "tinypkg-src" / "pyproject.toml")},
        "pip_wheel": f"{install.WHEELS}/{Path(pip_wheel).name}",
        "steps": [{"what": "pip", "bootstrap": True, "requirements": [f"pip=={pip_version}"]},
                  {"what": "the package", "project": True, "extras": "", "requirements": ["tinypkg==1.0"]}],
        "post_install": [],
    }
    build.write_manifest(bundle, manifest)
    return bundle


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "bundle"))


def _install(bundle: Path, venv: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # The bundle's own copy of the installer, run by the interpreter alone (no lesr_local importable).
    return subprocess.run([sys.executable, "-E", str(bundle / "install.py"), str(bundle), "--venv", str(venv), *extra],
                          capture_output=True, text=True, timeout=300, cwd=bundle.parent)


def _refusal(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == install.EXIT_REFUSED, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lesr-local bundle refused: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte different
    path.write_bytes(bytes(data))


def _first_wheel(bundle: Path) -> Path:
    return next((bundle / install.WHEELS).glob("tinypkg-*.whl"))


def test_a_good_bundle_installs_with_no_index(tiny_bundle: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    proc = _install(tiny_bundle, venv)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lesr-local bundle OK: 3 files" in proc.stdout
    out = subprocess.run([str(venv / "bin" / "python"), "-c", "import tinypkg, pip; print(tinypkg.ANSWER)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "42"


def test_one_corrupted_wheel_is_refused_before_anything_is_installed(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    wheel = _first_wheel(bundle)
    _flip_one_byte(wheel)
    venv = tmp_path / "venv"
    line = _refusal(_install(bundle, venv))
    assert f"bad checksum for wheels/{wheel.name}" in line
    assert not venv.exists()


def test_a_missing_file_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    wheel = _first_wheel(bundle)
    wheel.unlink()
    line = _refusal(_install(bundle, tmp_path / "venv"))
    assert f"missing file wheels/{wheel.name}" in line
    assert not (tmp_path / "venv").exists()


def test_an_unlisted_wheel_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    shutil.copy2(_first_wheel(bundle), bundle / install.WHEELS / "tinypkg-9.0-py3-none-any.whl")
    line = _refusal(_install(bundle, tmp_path / "venv"))
    assert "unlisted file wheels/tinypkg-9.0-py3-none-any.whl" in line


def test_a_bundle_for_another_python_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    manifest = json.loads((bundle / install.MANIFEST).read_text())
    manifest["platform"]["python"] = "3.99"
    (bundle / install.MANIFEST).write_text(json.dumps(manifest))
    line = _refusal(_install(bundle, tmp_path / "venv"))
    assert "bundle built for" in line and "CPython 3.99" in line
    assert not (tmp_path / "venv").exists()


def test_a_bundle_compiled_for_cpu_features_this_cpu_lacks_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    have = install.cpu_simd_flags()
    if have is None:
        pytest.skip("no /proc/cpuinfo on this OS")
    lacking = sorted(install.SIMD_FLAGS - set(have))[0]  # x86 lacks the ARM ones and vice versa
    bundle = _copy(tiny_bundle, tmp_path)
    manifest = json.loads((bundle / install.MANIFEST).read_text())
    manifest["platform"]["cpu_flags"] = [*have, lacking]
    (bundle / install.MANIFEST).write_text(json.dumps(manifest))
    line = _refusal(_install(bundle, tmp_path / "venv"))
    assert f"compiled for a CPU with {lacking}, which this CPU lacks" in line
    assert not (tmp_path / "venv").exists()
    manifest["platform"]["cpu_flags"] = have  # the build machine's own flags pass
    (bundle / install.MANIFEST).write_text(json.dumps(manifest))
    assert _install(bundle, tmp_path / "venv", "--verify-only").returncode == 0


def test_a_malformed_manifest_is_refused_in_one_line(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    manifest = json.loads((bundle / install.MANIFEST).read_text())
    manifest["files"] = {"../../etc/passwd": {"sha256": "0", "size": 1}}
    (bundle / install.MANIFEST).write_text(json.dumps(manifest))
    assert "lists a path outside the bundle: ../../etc/passwd" in _refusal(_install(bundle, tmp_path / "v1"))
    manifest["files"] = ["wheels/x.whl"]
    (bundle / install.MANIFEST).write_text(json.dumps(manifest))
    assert "is malformed" in _refusal(_install(bundle, tmp_path / "v2"))
    (bundle / install.MANIFEST).write_text("{not json")
    assert "is not valid JSON" in _refusal(_install(bundle, tmp_path / "v3"))


def test_a_wheel_this_python_cannot_take_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    foreign = bundle / install.WHEELS / "tinypkg-2.0-cp399-cp399-manylinux_2_99_x86_64.whl"
    shutil.copy2(_first_wheel(bundle), foreign)
    manifest = json.loads((bundle / install.MANIFEST).read_text())
    build.write_manifest(bundle, manifest)  # listed with a correct checksum: only its tags are wrong
    line = _refusal(_install(bundle, tmp_path / "venv"))
    assert foreign.name in line and "cannot install" in line


def test_the_tarball_or_a_plain_folder_is_refused_with_a_hint(tiny_bundle: Path, tmp_path: Path) -> None:
    tar = tmp_path / "bundle.tar"
    with tarfile.open(tar, "w") as fh:
        fh.add(tiny_bundle, arcname="bundle")
    assert "unpack it first" in _refusal(_run_installer(tar, tmp_path / "v1"))
    assert "has no manifest.json" in _refusal(_run_installer(tmp_path, tmp_path / "v2"))


def _run_installer(bundle: Path, venv: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-E", str(INSTALLER), str(bundle), "--venv", str(venv)],
                          capture_output=True, text=True, timeout=120)


def test_editable_install_of_a_different_checkout_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text('[project]\nname = "tinypkg"\nversion = "2.0"\n')
    line = _refusal(_install(tiny_bundle, tmp_path / "venv", "--editable", str(checkout)))
    assert "differs from the one this bundle was built from" in line


def test_make_setup_offline_refuses_a_corrupted_bundle_and_creates_no_venv(tiny_bundle: Path, tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    bundle = _copy(tiny_bundle, tmp_path)
    wheel = _first_wheel(bundle)
    _flip_one_byte(wheel)
    venv = tmp_path / "venv"
    proc = subprocess.run(["make", "-C", str(REPO), "setup", f"OFFLINE={bundle}", f"VENV={venv}",
                           f"PYTHON={sys.executable}"], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert f"lesr-local bundle refused: bad checksum for wheels/{wheel.name}" in proc.stderr
    assert not venv.exists()


def test_source_archive_holds_the_checkout_without_venv_or_models(tmp_path: Path) -> None:
    project = build.read_project(REPO)
    archive = tmp_path / "src.tar.gz"
    build.write_source_archive(REPO, project, archive)
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    prefix = f"{project.name}-{project.version}/"
    for needed in ("Makefile", "pyproject.toml", "lesr_local/offline/install.py", "tests/conftest.py"):
        assert prefix + needed in names
    assert not any("/.venv/" in n or n.endswith(".gguf") or "/.git/" in n for n in names)


def test_wheel_tags_expand_compressed_tag_sets() -> None:
    tags = install.wheel_tags("numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl")
    assert tags == {"cp311-cp311-manylinux_2_27_x86_64", "cp311-cp311-manylinux_2_28_x86_64"}
    assert install.wheel_tags("glfw-2.11.0-py2.py3-none-any.whl") == {"py2-none-any", "py3-none-any"}
    with pytest.raises(install.BundleRefused):
        install.wheel_tags("not-a-wheel.zip")


def test_bundle_build_will_not_replace_a_folder_that_is_not_a_bundle(tmp_path: Path) -> None:
    out = tmp_path / "important"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    proc = subprocess.run([sys.executable, "-m", "lesr_local.offline.build", "--out", str(out), "--project", str(REPO)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip() == f"lesr-local bundle: refusing to replace {out.resolve()}: it exists and is not a lesr-local bundle"
    assert (out / "notes.txt").read_text() == "keep me"


def test_constraints_pin_installed_packages_but_not_the_editable_project() -> None:
    pins = build.installed_pins(exclude={"torch"})
    assert "lesr-local" not in pins  # the checkout is built into the bundle, not pinned
    assert "torch" not in pins
    assert pins["numpy"] == __import__("numpy").__version__
