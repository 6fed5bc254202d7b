"""`lesr doctor`: every requirement checked, JSON shape, non-zero exit with a hint when one is missing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_lesr


def test_doctor_json_reports_every_check(home: Path) -> None:
    proc = run_lesr("doctor", "--json", home=home, timeout=300)
    report = json.loads(proc.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert set(checks) == {"llama.cpp", "models", "torch", "mujoco", "workspace", "sandbox", "network", "ray"}
    assert checks["network"]["ok"] and checks["network"]["data"]["access"] in (True, False, None)
    assert checks["llama.cpp"]["data"]["system_info"]
    assert "gpu_offload" in checks["llama.cpp"]["data"]
    assert checks["torch"]["data"]["device"] in ("cpu", "cuda", "mps")
    assert checks["models"]["ok"] and checks["models"]["data"]["runtime"]["tokens"] >= 1
    assert checks["workspace"]["data"]["free_bytes"] > 0
    assert checks["mujoco"]["data"]["version"]
    walls = checks["sandbox"]["data"]["walls"]  # read back from a real sandboxed worker
    assert "seccomp" in walls and "read-only-fs" in walls and checks["sandbox"]["ok"]
    assert checks["sandbox"]["data"]["candidate_code"] == "allowed"
    assert checks["sandbox"]["detail"].startswith("candidate code runs here")
    assert proc.returncode == (0 if report["ok"] else 1)


def test_doctor_fails_with_a_hint_for_a_missing_requirement(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_lesr("doctor", "--no-llm-run", "--home", str(blocker / "home"), timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "[FAIL] workspace" in proc.stdout and "hint:" in proc.stdout
    assert "[ok  ] llama.cpp" in proc.stdout and "Traceback" not in proc.stderr
