"""`lesr candidate check FILE --env ID [--json]` through the real CLI in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_lesr
from tests.helpers_candidates import CORPUS

VALID = CORPUS / "valid" / "lesr_shared_format.py"


def test_valid_file_exit_0(home: Path) -> None:
    proc = run_lesr("candidate", "check", str(VALID), "--env", "HalfCheetah-v5", home=home)
    assert proc.returncode == 0, proc.stderr
    assert "valid: HalfCheetah-v5 state_dim=17 feature_dim=19 extra_dims=2" in proc.stdout


def test_valid_file_json(home: Path) -> None:
    proc = run_lesr("candidate", "check", str(VALID), "--env", "HalfCheetah-v5", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["valid"] is True and data["reason"] is None
    assert (data["state_dim"], data["feature_dim"], data["extra_dims"]) == (17, 19, 2)
    assert data["mean_call_ms"] > 0  # a figure the command reports, not a speed claim


def test_rejected_file_exit_2_with_reason(home: Path, tmp_path: Path) -> None:
    proc = run_lesr("candidate", "check", str(CORPUS / "hostile" / "11_numpy_save.py"), "--env",
                    "HalfCheetah-v5", home=home)
    assert proc.returncode == 2
    assert "`np.save` is not an allowed numpy function" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_rejected_file_json(home: Path) -> None:
    proc = run_lesr("candidate", "check", str(CORPUS / "hostile" / "41_no_extra_dims.py"), "--env",
                    "Hopper-v5", "--json", home=home)
    assert proc.returncode == 2
    data = json.loads(proc.stdout)
    assert data["valid"] is False and "at least one extra dim" in data["reason"]
    assert data["state_dim"] == 11 and data["feature_dim"] is None


def test_wrong_env_for_the_file_is_rejected(home: Path) -> None:
    # Written for HalfCheetah (17 dims); on Hopper (11 dims) the reward indexes past the end.
    proc = run_lesr("candidate", "check", str(CORPUS / "valid" / "concat_list.py"), "--env", "Hopper-v5",
                    home=home)
    assert proc.returncode == 2
    assert "IndexError" in proc.stderr


def test_missing_file_and_bad_env_are_one_line_exit_2(home: Path, tmp_path: Path) -> None:
    proc = run_lesr("candidate", "check", str(tmp_path / "nope.py"), "--env", "HalfCheetah-v5", home=home)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "candidate file not found" in proc.stderr
    proc = run_lesr("candidate", "check", str(VALID), "--env", "NoSuchEnv-v9", home=home)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    binary = tmp_path / "bin.py"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    proc = run_lesr("candidate", "check", str(binary), "--env", "HalfCheetah-v5", home=home)
    assert proc.returncode == 2 and "not UTF-8" in proc.stderr


def test_shared_module_with_main_demo_is_accepted(home: Path) -> None:
    shared = CORPUS / "valid" / "shared_with_main_demo.py"
    proc = run_lesr("candidate", "check", str(shared), "--env", "Walker2d-v5", "--json", home=home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["extra_dims"] == 2
