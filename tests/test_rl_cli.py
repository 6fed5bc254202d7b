"""`lesr train` end to end through the real CLI (subprocess, real MuJoCo, sandboxed worker)."""

from __future__ import annotations

import json
from pathlib import Path

from lesr_local.procs import cpu_count

FEATURES = '''import numpy as np

def revise_state(s):
    return np.concatenate([s, [abs(s[1])]])

def intrinsic_reward(updated_s):
    return -updated_s[4]
'''


def test_train_json_with_features(lesr, home: Path, tmp_path: Path) -> None:
    module = tmp_path / "feat.py"
    module.write_text(FEATURES)
    out = tmp_path / "out"
    proc = lesr("train", "--env", "InvertedPendulum-v5", "--features", str(module), "--steps", "700",
                "--preset", "smoke", "--seed", "3", "--out", str(out), "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["env_id"] == "InvertedPendulum-v5" and data["steps"] == 700 and data["seed"] == 3
    assert data["feature_dim"] == 5 and len(data["lipschitz"]) == 5
    assert [p[0] for p in data["curve"]] == [300, 600, 700]
    assert data["score"] is not None and data["steps_per_s"] > 0
    assert Path(data["policy_path"]).is_file() and Path(data["policy_path"]).parent == out


def test_rejected_features_file_exits_2(lesr, home: Path, tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import subprocess\n\ndef revise_state(s):\n    return s\n\n"
                      "def intrinsic_reward(updated_s):\n    return 0.0\n")
    proc = lesr("train", "--env", "InvertedPendulum-v5", "--features", str(module), "--steps", "100",
                "--json", home=home)
    assert proc.returncode == 2
    assert "candidate rejected" in proc.stderr and "Traceback" not in proc.stderr


def test_bench_td3_reports_our_rate_and_the_reference_rate(lesr, home: Path) -> None:
    proc = lesr("bench", "td3", "--env", "InvertedPendulum-v5", "--steps", "60", "--workers", "2", "--json",
                home=home)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("steps_per_s", "updates_per_s", "peak_rss_mb", "reference_steps_per_s", "speedup", "workers",
                "env", "steps", "device", "torch_threads_per_worker", "reference_torch_threads", "baseline"):
        assert key in data, key
    assert data["workers"] == 2 and len(data["per_worker_steps_per_s"]) == 2
    # Each of two workers gets half the usable cores; the reference gets them all (torch's default).
    assert data["torch_threads_per_worker"] == max(1, cpu_count() // 2)
    assert data["reference_torch_threads"] == cpu_count()
    assert data["steps_per_s"] > 0 and data["reference_steps_per_s"] > 0 and data["speedup"] > 0
    assert len(data["reference_runs_steps_per_s"]) == 2


def test_features_that_break_a_semantic_rule_are_refused_before_training(lesr, home: Path, tmp_path: Path) -> None:
    module = tmp_path / "no_extra.py"  # passes the AST policy; fails the semantic check
    module.write_text("import numpy as np\n\ndef revise_state(s):\n    return s * 1.0\n\n"
                      "def intrinsic_reward(updated_s):\n    return 0.0\n")
    out = tmp_path / "out"
    proc = lesr("train", "--env", "InvertedPendulum-v5", "--features", str(module), "--steps", "400",
                "--out", str(out), "--json", home=home)
    assert proc.returncode == 2, proc.stderr
    assert "candidate rejected: revise_state returned 4 values but the state has 4" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


def test_bench_td3_measures_the_cost_of_the_training_time_checks(lesr, home: Path) -> None:
    proc = lesr("bench", "td3", "--env", "InvertedPendulum-v5", "--steps", "60", "--compare-checks",
                "--no-reference", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["runtime_checks"] is True and len(data["without_checks_runs_steps_per_s"]) == 2
    assert data["without_checks_steps_per_s"] > 0 and data["checks_ratio"] > 0
    assert data["steps_per_cpu_s"] > 0 and data["without_checks_steps_per_cpu_s"] > 0 and data["checks_cpu_ratio"] > 0
    assert data["features"] == "bench.td3_bench.CHECKS_CANDIDATE"
