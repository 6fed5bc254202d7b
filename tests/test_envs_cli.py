"""`lesr envs` and `lesr envs show` through the real CLI in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_lesr

SPECS = Path(__file__).parent / "data" / "env_specs"


def test_envs_json_lists_the_catalogue() -> None:
    proc = run_lesr("envs", "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    envs = json.loads(lines[0])
    ids = [e["env_id"] for e in envs]
    assert "HalfCheetah-v5" in ids and "AdroitHandHammer-v1" in ids and "InvertedPendulum-v5" in ids
    for e in envs:
        assert {"env_id", "state_dim", "dims", "task", "metric"} <= set(e)
        assert len(e["dims"]) == e["state_dim"]


def test_envs_table_and_all() -> None:
    proc = run_lesr("envs", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Hopper-v5" in proc.stdout and "success_rate" in proc.stdout
    every = run_lesr("envs", "--all", "--json", timeout=120)
    assert every.returncode == 0, every.stderr
    rows = {r["env_id"]: r for r in json.loads(every.stdout)}
    assert rows["Reacher-v5"] == {"env_id": "Reacher-v5", "catalogued": False}
    assert "HumanoidStandup-v5" in rows and "Hopper-v4" not in rows and rows["Hopper-v5"]["catalogued"]


def test_envs_show_json_and_text() -> None:
    proc = run_lesr("envs", "show", "Hopper-v4", "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["env_id"] == "Hopper-v5" and info["state_dim"] == 11 and info["metric"] == "return"
    assert info["dims"][0] == {"index": 0, "description": info["dims"][0]["description"], "unit": "m"}
    text = run_lesr("envs", "show", "FetchPushDense-v4", timeout=120)
    assert text.returncode == 0, text.stderr
    assert "s[27]" in text.stdout and "success:" in text.stdout


def test_envs_show_uncatalogued_and_spec_file() -> None:
    proc = run_lesr("envs", "show", "Reacher-v5", "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["catalogued"] is False and info["state_dim"] == len(info["dims"]) == 10
    spec = run_lesr("envs", "show", "--env-spec", str(SPECS / "double_pendulum.toml"), "--json", timeout=120)
    assert spec.returncode == 0, spec.stderr
    assert json.loads(spec.stdout)["env_id"] == "MyDoublePendulum"


def test_unknown_env_is_exit_2_one_line_with_close_matches() -> None:
    proc = run_lesr("envs", "show", "Walker-v5", timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "Walker2d-v5" in proc.stderr
    missing = run_lesr("envs", "show", timeout=120)
    assert missing.returncode == 2 and "env ID" in missing.stderr
