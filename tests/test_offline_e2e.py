"""Air-gapped end to end: `make bundle`, then in a new network namespace (only loopback) a fresh venv
from the bundle alone, `lesr doctor` and a smoke run, both exit 0, with no socket to another machine.

It takes several minutes (bundle, offline install, a smoke run), so the pytest suite skips it and
.ci/run runs it as its own step with LESR_OFFLINE_E2E=1 (CI runs as root, which `unshare -n` needs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NETAUDIT = Path(__file__).resolve().parent / "netaudit"


def _skip_reason() -> str | None:
    if os.environ.get("LESR_OFFLINE_E2E") != "1":
        return "takes minutes: .ci/run runs it as its own step (set LESR_OFFLINE_E2E=1 to run it here)"
    if os.geteuid() != 0:
        return "needs root: `unshare -n` (a new network namespace) requires CAP_SYS_ADMIN"
    for tool in ("unshare", "make", "git"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))]


def _offline(cmd: str, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a shell command in a fresh network namespace: loopback only (brought up if `ip` exists)."""
    script = f"(command -v ip >/dev/null && ip link set lo up) ; {cmd}"
    return subprocess.run(["unshare", "-n", "sh", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_install_and_run_from_a_bundle_without_network(tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    bundle = tmp_path / "lesr-local-bundle"
    started = time.monotonic()
    # The venv running this test is set up already (`-o setup`: don't remake it); bundle from it.
    proc = subprocess.run(["make", "-o", "setup", "bundle", f"BUNDLE={bundle}", f"VENV={sys.prefix}"],
                          cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    timings["bundle_s"] = time.monotonic() - started
    tarball = bundle.with_name(bundle.name + ".tar")
    assert tarball.is_file()

    # What a user does on the offline machine: unpack, unpack the source, make setup OFFLINE=...
    target = tmp_path / "offline"
    target.mkdir()
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="tar")
    shutil.rmtree(bundle)
    tarball.unlink()
    unpacked = target / bundle.name
    manifest = json.loads((unpacked / "manifest.json").read_text())
    with tarfile.open(unpacked / manifest["source"]) as tar:
        tar.extractall(target, filter="tar")
    src = target / f"{manifest['project']['name']}-{manifest['project']['version']}"
    assert (src / "Makefile").is_file()

    # A clean environment: no pip configuration, no shared caches; user folders inside tmp_path.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "LESR_", "PYTHON", "VIRTUAL_ENV", "XDG_"))}
    env.update(HOME=str(tmp_path / "user"), XDG_CACHE_HOME=str(tmp_path / "user" / "cache"),
               XDG_DATA_HOME=str(tmp_path / "user" / "data"), LESR_HOME=str(tmp_path / "workspace"),
               MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    started = time.monotonic()
    base_python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    proc = _offline(f"make setup OFFLINE=../{bundle.name} PYTHON={base_python}", src, env, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    timings["offline_install_s"] = time.monotonic() - started

    audit_log = tmp_path / "net-audit.jsonl"
    audited = {**env, "PYTHONPATH": str(NETAUDIT), "LESR_NET_AUDIT_LOG": str(audit_log)}
    proc = _offline(".venv/bin/lesr doctor --json", src, audited, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["network"]["data"]["access"] is False
    assert checks["models"]["data"]["runtime"]["tokens"] >= 1

    started = time.monotonic()
    proc = _offline(".venv/bin/lesr run --env InvertedPendulum-v5 --preset smoke --headless --json",
                    src, audited, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    timings["smoke_run_s"] = time.monotonic() - started
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished" and summary["total_env_steps"] > 0

    # The test suite's own dependencies came from the bundle too (make test would run).
    proc = _offline(".venv/bin/python -m pytest --collect-only -q tests/test_offline_bundle.py", src, env, 600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    records = [json.loads(line) for line in audit_log.read_text().splitlines()]
    starts = [r for r in records if r["event"] == "start"]
    assert len(starts) >= 3, starts  # doctor, the run, and their worker processes were all audited
    assert [r for r in records if r["event"] != "start"] == []
    print(f"\noffline e2e timings: {json.dumps({k: round(v, 1) for k, v in timings.items()})}; "
          f"audited processes: {len(starts)}")
