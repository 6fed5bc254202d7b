"""`lesr train` folders and cores: every training its own folder, no resume across trainings, and
trainings started separately share the machine's cores (real CLI, real worker, short runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lesr_local.commands.train import _new_out_dir
from lesr_local.config import TD3Config
from lesr_local.core_slots import claim_cores
from lesr_local.procs import cpu_count
from lesr_local.rl.features import Features
from lesr_local.rl.trainer import Trainer, TrainSpec

ENV = "InvertedPendulum-v5"


def _train(lesr, home: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    proc = lesr("train", "--env", ENV, "--preset", "smoke", "--json", *args, home=home, env=env)
    return proc, (json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None)


def test_every_training_gets_its_own_folder(home: Path) -> None:
    # Same env, same seed, same second: still two folders, both made on the spot.
    first, second = _new_out_dir(home, ENV, 0), _new_out_dir(home, ENV, 0)
    assert first != second and first.is_dir() and second.is_dir()
    assert first.parent == second.parent == home / "train"
    assert first.name.startswith(second.name[:-6]) and f"{ENV}-s0-" in first.name


def test_without_out_the_training_writes_into_a_fresh_folder(lesr, home: Path, tmp_path: Path) -> None:
    runtime = {"XDG_RUNTIME_DIR": str(tmp_path / "runtime")}
    proc, data = _train(lesr, home, "--steps", "40", "--seed", "4", env=runtime)
    assert proc.returncode == 0, proc.stderr
    out = Path(data["out"])
    assert out.parent == home / "train" and "-s4-" in out.name
    assert json.loads((out / "training.json").read_text())["seed"] == 4
    assert Path(data["policy_path"]).parent == out


def test_a_checkpoint_of_another_training_is_never_resumed(lesr, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    runtime = {"XDG_RUNTIME_DIR": str(tmp_path / "runtime")}
    proc, _ = _train(lesr, home, "--steps", "40", "--seed", "0", "--out", str(out), env=runtime)
    assert proc.returncode == 0, proc.stderr
    # A real checkpoint in that folder (taken at the first episode end of a real training).
    spec = TrainSpec(env_id=ENV, steps=80, seed=0, learner=TD3Config(hidden_sizes=(16, 16), start_steps=1000),
                     checkpoint_dir=out / "checkpoint", checkpoint_every=1, threads=1, device="cpu")
    assert Trainer(spec, Features()).run().status == "finished"
    assert (out / "checkpoint").is_dir() and any((out / "checkpoint").iterdir())
    other_seed, _ = _train(lesr, home, "--steps", "40", "--seed", "1", "--out", str(out), env=runtime)
    assert other_seed.returncode == 2, other_seed.stderr
    assert other_seed.stderr.count("\n") == 1 and "differs in: seed" in other_seed.stderr
    features = tmp_path / "f.py"
    features.write_text("import numpy as np\n\ndef revise_state(s):\n    return np.append(s, s[1])\n\n"
                        "def intrinsic_reward(updated_s):\n    return -abs(updated_s[-1])\n")
    other_code, _ = _train(lesr, home, "--steps", "40", "--seed", "0", "--features", str(features),
                           "--out", str(out), env=runtime)
    assert other_code.returncode == 2 and "features_sha256" in other_code.stderr
    assert not (out / "features.py").exists()  # the refused training wrote nothing into the folder
    (out / "training.json").unlink()
    unknown, _ = _train(lesr, home, "--steps", "40", "--seed", "0", "--out", str(out), env=runtime)
    assert unknown.returncode == 2 and "unknown origin" in unknown.stderr


@pytest.mark.skipif(cpu_count() < 2, reason="sharing needs at least two cores")
def test_separate_trainings_share_the_cores(lesr, home: Path, tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    slots = runtime / "lesr-local" / "core-slots"
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    cores = cpu_count()
    with claim_cores(cores - 1, cores, slots) as other:  # another training holds all cores but one
        assert len(other.held) == cores - 1
        proc, data = _train(lesr, home, "--steps", "40", env=env)
        assert proc.returncode == 0, proc.stderr
        assert data["torch_threads"] == 1 and "cores" not in proc.stderr
        with claim_cores(1, cores, slots) as last:  # ... and now every core
            assert last.held
            proc, data = _train(lesr, home, "--steps", "40", env=env)
            assert proc.returncode == 0, proc.stderr
            assert data["torch_threads"] == 1 and f"hold all {cores} cores" in proc.stderr
    proc, data = _train(lesr, home, "--steps", "40", env=env)  # alone again: every core
    assert proc.returncode == 0, proc.stderr
    assert data["torch_threads"] == cores


def test_features_that_fail_the_semantic_checks_are_refused_before_training(lesr, home: Path,
                                                                              tmp_path: Path) -> None:
    module = tmp_path / "no_extra.py"  # passes the AST policy, but adds no feature dim
    module.write_text("import numpy as np\n\ndef revise_state(s):\n    return np.array(s)\n\n"
                      "def intrinsic_reward(updated_s):\n    return 0.0\n")
    proc, _ = _train(lesr, home, "--steps", "40", "--features", str(module))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("lesr: error: candidate rejected:") and proc.stderr.count("\n") == 1
    assert "extra" in proc.stderr
    assert not (home / "train").exists()  # refused before any folder or worker



@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_a_seed_numpy_cannot_take_is_refused_before_training(lesr, home: Path, seed: str) -> None:
    proc, _ = _train(lesr, home, "--steps", "40", "--seed", seed)
    assert proc.returncode == 2, proc.stderr
    assert "--seed" in proc.stderr and "4294967295" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert not (home / "train").exists()  # no output folder made
