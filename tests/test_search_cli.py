"""`lesr run` front-end: config precedence, bad input (exit 2, one line), executor defaults (fast)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from lesr_local.cli import build_parser
from lesr_local.commands.run import build_config
from lesr_local.errors import BadInput
from lesr_local.store import Store, new_run_id
from lesr_local.trainings.executors import default_workers


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["run", *argv])


def test_preset_then_toml_then_flags(tmp_path: Path) -> None:
    cfg = build_config(_args("--env", "Hopper-v5", "--preset", "smoke"))
    assert cfg.env_id == "Hopper-v5" and cfg.samples == 2 and cfg.preset == "smoke"

    toml = tmp_path / "run.toml"
    toml.write_text('preset = "smoke"\nsamples = 3\n\n[llm]\ntemperature = 0.5\n')
    cfg = build_config(_args("--env", "Hopper-v5", "--config", str(toml), "--samples", "5", "--no-video",
                             "--constrain", "off", "--final-steps", "999"))
    assert cfg.samples == 5 and cfg.llm.temperature == 0.5 and cfg.llm.constrain == "off"
    assert cfg.final_steps == 999 and cfg.render_video is False and cfg.steps == 1_200

    cfg = build_config(_args("--env", "Hopper-v5"))
    assert cfg.preset == "quick"


def test_bad_values_are_bad_input() -> None:
    with pytest.raises(BadInput, match="--env"):
        build_config(_args())
    with pytest.raises(BadInput, match="samples"):
        build_config(_args("--env", "Hopper-v5", "--samples", "0"))


def test_executor_defaults() -> None:
    # One worker per core this process may use: the affinity mask, not the machine's core count.
    allowed = os.sched_getaffinity(0)
    assert default_workers() == len(allowed)
    try:
        os.sched_setaffinity(0, {min(allowed)})
        assert default_workers() == 1
    finally:
        os.sched_setaffinity(0, allowed)
    assert default_workers(0) == 1  # never zero workers


def test_run_bad_input_exits_2(home: Path, lesr) -> None:
    Store(home).close()
    cases = [
        ("run",),
        ("run", "--env", "NoSuchEnv-v9", "--preset", "smoke", "--headless"),
        ("run", "--resume", "20260101-000000-zzzz", "--headless"),
        ("run", "--resume", "20260101-000000-zzzz", "--samples", "3"),
        ("run", "--env", "InvertedPendulum-v5", "--config", str(home / "missing.toml")),
    ]
    for args in cases:
        out = lesr(*args, home=home, timeout=120)
        assert out.returncode == 2, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("lesr: error:"), out.stderr


def test_resume_of_finished_run_is_refused(home: Path, lesr) -> None:
    with Store(home) as store:
        run_id = new_run_id()
        store.create_run(run_id, "InvertedPendulum-v5", "smoke", {"env_id": "InvertedPendulum-v5"})
        store.end_run(run_id, "finished", None, {}, None, None, None)
    out = lesr("run", "--resume", run_id, "--headless", home=home, timeout=120)
    assert out.returncode == 2 and "already finished" in out.stderr


def test_dim_names_from_feature_lines() -> None:
    from lesr_local.envs.catalogue import get_env_info
    from lesr_local.trainings.requests import dim_names

    env = get_env_info("InvertedPendulum-v5")
    code = "def revise_state(s):\n    f1 = s[0] * 2\n    f2 = abs(s[1])\n    return s\n"
    names = dim_names(env, code, 3)
    assert names[:4] == [d.description for d in env.dims]
    assert names[4:] == ["f1 = s[0] * 2", "f2 = abs(s[1])", "extra feature 2"]
    assert dim_names(env, None, 1)[4:] == ["extra feature 0"]


def test_budget_not_above_the_warmup_is_refused_before_anything_runs(home: Path, lesr) -> None:
    Store(home).close()
    for args, name in ((("--steps", "400"), "steps (400)"), (("--final-steps", "300"), "final_steps (300)")):
        # smoke: td3.start_steps = 400, so 400 steps would train nothing
        out = lesr("run", "--env", "InvertedPendulum-v5", "--preset", "smoke", "--headless", *args, home=home,
                   timeout=120)
        assert out.returncode == 2, out.stderr
        assert out.stderr.count("\n") == 1 and name in out.stderr and "td3.start_steps (400" in out.stderr
    with Store(home) as store:
        assert store.list_runs() == []
    with pytest.raises(BadInput, match="steps"):
        build_config(_args("--env", "HalfCheetah-v5", "--steps", "1500"))  # quick: warm-up 2000


def test_engine_refuses_a_budget_built_in_code_without_writing(home: Path) -> None:
    from lesr_local.config import RunConfig, TD3Config
    from lesr_local.search.engine import SearchEngine

    config = RunConfig(env_id="InvertedPendulum-v5", steps=500, final_steps=5_000, td3=TD3Config(start_steps=500))
    with Store(home) as store:
        with pytest.raises(BadInput, match=r"steps \(500\) must be above td3.start_steps"):
            SearchEngine(store, lambda event: None).start(config)
        assert store.list_runs() == []
        assert not (home / "runs").exists() or not any((home / "runs").iterdir())


def test_prune_and_select_seeds_flags_and_preset_defaults() -> None:
    assert build_config(_args("--env", "Hopper-v5")).prune == "none"  # quick: halving cut its best (bench search)
    assert build_config(_args("--env", "Hopper-v5")).select_seeds == 1
    assert build_config(_args("--env", "Hopper-v5", "--preset", "paper")).prune == "halving"
    smoke = build_config(_args("--env", "Hopper-v5", "--preset", "smoke"))
    assert smoke.prune == "none" and smoke.select_seeds == 0
    cfg = build_config(_args("--env", "Hopper-v5", "--prune", "none", "--select-seeds", "3"))
    assert cfg.prune == "none" and cfg.select_seeds == 3 and cfg.to_dict()["prune"] == "none"
    with pytest.raises(BadInput, match="select_seeds"):
        build_config(_args("--env", "Hopper-v5", "--select-seeds", "-1"))
    with pytest.raises(SystemExit):
        build_config(_args("--env", "Hopper-v5", "--prune", "sometimes"))


@pytest.mark.parametrize(("args", "expect"), [
    (("--seed", "-1"), "seed must be within [0, 4294967295]"),
    (("--seed", str(2**32 - 2)), "its trainings would use seeds up to 4294968295"),  # + 1000 + 1 re-evaluation
    (("--seeds", "0"), "seeds must be at least 1, got 0"),
    (("--steps", "0"), "steps must be at least 1, got 0"),
    (("--final-steps", "-5"), "final_steps must be at least 1, got -5"),
])
def test_run_seeds_and_budgets_are_refused_up_front(home: Path, lesr, args: tuple[str, ...], expect: str) -> None:
    Store(home).close()
    out = lesr("run", "--env", "InvertedPendulum-v5", "--preset", "quick", "--headless", *args, home=home,
               timeout=120)
    assert out.returncode == 2, out.stderr
    assert expect in out.stderr and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    with Store(home) as store:
        assert store.list_runs() == []
