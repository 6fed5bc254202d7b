"""Air-gapped end to end: `make bundle`, then in a new network namespace (only loopback) a fresh venv
from the bundle alone, `lesr doctor` and a smoke run, both exit 0, with no socket to another machine.

It takes several minutes (bundle, offline install, a smoke run), so the pytest suite skips it and
.ci/run runs it as its own step with LESR_OFFLINE_E2E=1 (CI runs as root, which `unshare -n` needs).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.home_isolation import REAL_PIP_CACHE

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


class Steps:
    """Runs the test's commands one by one, each with its own time budget and its output in files
    under tmp_path: a step that fails or runs past its budget shows its last lines (what it was
    doing), and every finished step prints its time at once (CI shows them as they come)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.timings: dict[str, float] = {}

    def run(self, name: str, cmd: list[str], cwd: Path, env: dict[str, str] | None, budget_s: float,
            offline: bool = True) -> str:
        if offline:  # a fresh network namespace: loopback only (brought up if `ip` exists)
            cmd = ["unshare", "-n", "sh", "-c", f"(command -v ip >/dev/null && ip link set lo up) ; {shlex.join(cmd)}"]
        stdout, stderr = self.logs / f"{name}.out", self.logs / f"{name}.err"
        started = time.monotonic()
        with open(stdout, "w") as out, open(stderr, "w") as err:
            try:
                code = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                      timeout=budget_s).returncode
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} ran past its {budget_s:.0f} s budget; its last lines:\n"
                            f"{_tail(stdout)}\n{_tail(stderr)}")
        elapsed = self.timings[name] = time.monotonic() - started
        print(f"offline e2e: {name} exit {code} in {elapsed:.1f} s", flush=True)
        assert code == 0, f"{name} exited with {code}; its last lines:\n{_tail(stdout)}\n{_tail(stderr)}"
        return stdout.read_text()


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# The steps' budgets add up to less than this (CI's 90 minutes hold the suite too).
@pytest.mark.timeout(3300)
def test_install_and_run_from_a_bundle_without_network(tmp_path: Path) -> None:
    steps = Steps(tmp_path)
    bundle = tmp_path / "lesr-local-bundle"
    # The venv running this test is set up already (`-o setup`: don't remake it); bundle from it, with
    # pip's real cache: the suite's home is a fresh folder, and without the wheel `make setup` built
    # pip would compile llama.cpp again (7 to 13 minutes on 2 cores).
    bundle_env = {**os.environ, "PIP_CACHE_DIR": str(REAL_PIP_CACHE)}
    steps.run("bundle", ["make", "-o", "setup", "bundle", f"BUNDLE={bundle}", f"VENV={sys.prefix}"], REPO,
              bundle_env, budget_s=1200, offline=False)
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
    base_python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    steps.run("offline_install", ["make", "setup", f"OFFLINE=../{bundle.name}", f"PYTHON={base_python}"], src,
              env, budget_s=1200)

    audit_log = tmp_path / "net-audit.jsonl"
    audited = {**env, "PYTHONPATH": str(NETAUDIT), "LESR_NET_AUDIT_LOG": str(audit_log)}
    doctor = steps.run("doctor", [".venv/bin/lesr", "doctor", "--json"], src, audited, budget_s=300)
    checks = {c["name"]: c for c in json.loads(doctor)["checks"]}
    assert checks["network"]["data"]["access"] is False
    assert checks["models"]["data"]["runtime"]["tokens"] >= 1

    smoke = steps.run("smoke_run", [".venv/bin/lesr", "run", "--env", "InvertedPendulum-v5", "--preset", "smoke",
                                    "--headless", "--json"], src, audited, budget_s=900)
    summary = json.loads(smoke.strip().splitlines()[-1])
    assert summary["status"] == "finished" and summary["total_env_steps"] > 0

    # The test suite's own dependencies came from the bundle too (make test would run).
    steps.run("collect_tests", [".venv/bin/python", "-m", "pytest", "--collect-only", "-q",
                                "tests/test_offline_bundle.py"], src, env, budget_s=300)

    records = [json.loads(line) for line in audit_log.read_text().splitlines()]
    starts = [r for r in records if r["event"] == "start"]
    assert len(starts) >= 3, starts  # doctor, the run, and their worker processes were all audited
    assert [r for r in records if r["event"] != "start"] == []
    print(f"\noffline e2e timings: {json.dumps({k: round(v, 1) for k, v in steps.timings.items()})}; "
          f"audited processes: {len(starts)}")

