"""The walls fail closed: where a worker cannot install its seccomp filter, candidate code is not
loaded, unless the user opts out with --unsafe-no-seccomp, and then the training records it.

"No seccomp here" is made real, not simulated inside lesr-local: tests/data/workers/no_seccomp_launcher.py
installs its own filter that answers seccomp(2) and prctl(PR_SET_SECCOMP) the way a kernel without
seccomp filters does, then execs the real CLI (or a real engine-side script). Every process lesr-local
starts inherits that, so its workers' own `seccomp.install` really fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "tests" / "data" / "workers" / "no_seccomp_launcher.py"
ENV = "InvertedPendulum-v5"
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="seccomp is a Linux feature")

# Loading this module is visible from outside: the check answers with its ValueError.
MARKS_ITS_LOADING = textwrap.dedent('''
    import numpy as np

    def revise_state(s):
        return np.concatenate([s, [1.0]])

    def intrinsic_reward(updated_s):
        return 0.0

    raise ValueError("the candidate module ran")
''')
VALID = textwrap.dedent('''
    import numpy as np

    def revise_state(s):
        return np.concatenate([s, [s[1] * s[3]]])

    def intrinsic_reward(updated_s):
        return -abs(updated_s[4])
''')


def _without_seccomp(*argv: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LESR_HOME=str(home), MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    return subprocess.run([sys.executable, str(LAUNCHER), sys.executable, *argv], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


def test_check_refuses_to_load_the_candidate_and_the_opt_out_loads_it(tmp_path: Path) -> None:
    module = tmp_path / "marks.py"
    module.write_text(MARKS_ITS_LOADING)
    args = ("-m", "lesr_local", "candidate", "check", str(module), "--env", ENV)
    refused = _without_seccomp(*args, home=tmp_path / "home")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    line = refused.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith("lesr: error: candidate code refused: the seccomp filter is not up"), line
    assert "--unsafe-no-seccomp" in line
    assert "the candidate module ran" not in refused.stdout + refused.stderr  # never loaded

    loaded = _without_seccomp(*args, "--json", "--unsafe-no-seccomp", home=tmp_path / "home")
    assert loaded.returncode == 2, loaded.stderr
    result = json.loads(loaded.stdout)
    assert result["valid"] is False
    assert result["reason"] == "running the module failed: ValueError: the candidate module ran"


def test_training_without_seccomp_only_with_the_opt_out_and_its_walls_say_so(tmp_path: Path) -> None:
    features = tmp_path / "features.py"
    features.write_text(VALID)
    args = ("-m", "lesr_local", "train", "--env", ENV, "--features", str(features), "--steps", "300",
            "--preset", "smoke", "--threads", "1", "--json")
    refused = _without_seccomp(*args, home=tmp_path / "home")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "candidate code refused: the seccomp filter is not up" in refused.stderr
    assert not list((tmp_path / "home").rglob("policy.safetensors"))

    trained = _without_seccomp(*args, "--unsafe-no-seccomp", home=tmp_path / "home")
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout)
    assert result["steps"] == 300 and result["feature_dim"] == 5
    assert "seccomp" not in result["walls"] and "read-only-fs" not in result["walls"]
    assert "rlimit:fsize" in result["walls"] and "capabilities-dropped" in result["walls"]
    assert "ran without the seccomp filter" in trained.stderr


ENGINE_SIDE = """
import json, sys
sys.path.insert(0, {root!r})
from lesr_local.config import EvalConfig, TD3Config
from lesr_local.rl.spec import TrainSpec
from lesr_local.rl.client import run_training
spec = TrainSpec(env_id={env!r}, steps=200, candidate_source={source!r}, learner=TD3Config(start_steps=100),
                 eval=EvalConfig(every=200, episodes=1), threads=1, unsafe_no_seccomp={unsafe!r})
result = run_training(spec)
print(json.dumps({{"status": result.status, "reason": result.reason, "walls": result.walls,
                  "steps": result.steps}}))
"""


@pytest.mark.parametrize("unsafe", [False, True], ids=["refused", "opted-out"])
def test_the_training_worker_itself_fails_closed(tmp_path: Path, unsafe: bool) -> None:
    """The training worker's own gate, without the CLI's check in front of it (a Ray node's worker)."""
    script = ENGINE_SIDE.format(root=str(ROOT), env=ENV, source=MARKS_ITS_LOADING, unsafe=unsafe)
    proc = _without_seccomp("-I", "-c", script, home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "failed" and result["steps"] == 0
    assert "seccomp" not in result["walls"] and "network-namespace" in result["walls"]
    if unsafe:
        assert result["reason"] == "candidate rejected: running the module failed: ValueError: the candidate module ran"
    else:
        assert result["reason"].startswith("candidate code refused: the seccomp filter is not up ("), result
        assert "--unsafe-no-seccomp" in result["reason"]


def test_doctor_says_candidate_code_would_be_refused(tmp_path: Path) -> None:
    proc = _without_seccomp("-m", "lesr_local", "doctor", "--json", "--no-llm-run", home=tmp_path / "home")
    assert proc.returncode == 1, proc.stderr
    sandbox = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "sandbox")
    assert sandbox["ok"] is False and sandbox["data"]["candidate_code"] == "refused"
    assert sandbox["detail"].startswith("candidate code would be REFUSED on this machine")
    assert "--unsafe-no-seccomp" in sandbox["hint"]
    assert "seccomp" not in sandbox["data"]["walls"]


def test_the_opt_out_reaches_the_run_config_and_a_resumed_run_records_it(tmp_path: Path) -> None:
    from lesr_local.cli import build_parser
    from lesr_local.commands.run import _opt_out_on_resume, build_config
    from lesr_local.config import RunConfig, load_toml
    from lesr_local.store.db import Store
    from tests.helpers_tui import make_finished_run

    parse = build_parser().parse_args
    assert build_config(parse(["run", "--env", ENV, "--unsafe-no-seccomp"])).unsafe_no_seccomp is True
    assert build_config(parse(["run", "--env", ENV])).unsafe_no_seccomp is False  # never on by default
    toml = tmp_path / "run.toml"
    toml.write_text(f'env_id = "{ENV}"\nunsafe_no_seccomp = true\n')
    assert load_toml(toml).unsafe_no_seccomp is True
    home = tmp_path / "home"
    run_id = make_finished_run(home, status="interrupted")
    _opt_out_on_resume(home, run_id)
    with Store(home) as store:
        assert RunConfig.from_dict(store.get_run(run_id).config).unsafe_no_seccomp is True


def test_a_run_on_a_machine_without_seccomp_is_refused_before_it_exists(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = _without_seccomp("-m", "lesr_local", "run", "--env", ENV, "--preset", "smoke", "--headless",
                            home=home, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "--unsafe-no-seccomp" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (home / "lesr.sqlite3").exists() or not json.loads(
        subprocess.run([sys.executable, "-m", "lesr_local", "history", "--json"], capture_output=True, text=True,
                       env=dict(os.environ, LESR_HOME=str(home)), cwd=ROOT).stdout or "[]")
