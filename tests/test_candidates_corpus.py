"""The whole corpus through the real check path: policy in-process, the rest in the sandbox worker.

Every hostile candidate is rejected for its expected reason and leaves nothing on disk; every valid
candidate is accepted on real states of its env.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from lesr_local.candidates.checks import check_source_on_states
from lesr_local.sandbox.limits import SandboxLimits
from tests.helpers_candidates import hostile_cases, real_states, valid_cases

# Small limits keep the corpus fast: an infinite loop costs about 2 s of CPU before SIGXCPU.
FAST_LIMITS = SandboxLimits(address_space_mb=1024, cpu_seconds=1, wall_seconds=6.0)
CANARIES = [Path("/tmp") / f"lesr_canary_{i:02d}" for i in range(1, 51)]


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("case", hostile_cases(), ids=lambda c: c.name)
def test_hostile_candidate_rejected_without_side_effects(case, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    states = real_states("HalfCheetah-v5")  # before chdir: MuJoCo may log into the cwd
    monkeypatch.chdir(tmp_path)
    result = check_source_on_states(case.source, states, limits=FAST_LIMITS)
    assert not result.valid
    assert result.reason is not None and case.expect in result.reason, result.reason
    assert "\n" not in result.reason and "Traceback" not in result.reason
    assert result.state_dim == states.shape[1]
    assert _snapshot(tmp_path) == set()  # nothing written where the test ran
    assert not any(p.exists() for p in CANARIES)


@pytest.mark.parametrize("case", valid_cases(), ids=lambda c: c.name)
def test_valid_candidate_accepted_on_real_states(case) -> None:
    states = real_states(case.env_id)
    result = check_source_on_states(case.source, states)
    assert result.valid, result.reason
    assert result.reason is None
    assert result.state_dim == states.shape[1]
    assert result.feature_dim is not None and result.feature_dim > result.state_dim
    assert result.extra_dims == result.feature_dim - result.state_dim
    assert result.mean_call_ms is not None and result.mean_call_ms > 0


def test_worker_temp_dirs_are_removed() -> None:
    states = real_states("HalfCheetah-v5")
    before = {p for p in Path("/tmp").glob("lesr-check-*")}
    check_source_on_states(valid_cases()[0].source, states)
    assert {p for p in Path("/tmp").glob("lesr-check-*")} == before


def test_wall_clock_kill_when_cpu_limit_cannot_fire() -> None:
    # A sleeping-like hang burns no CPU; only the parent's wall-clock kill stops it. Nothing in the
    # allowed language sleeps, so use a huge CPU limit and a short wall limit on a busy loop instead.
    states = real_states("HalfCheetah-v5")
    source = ("import numpy as np\n\ndef revise_state(s):\n    while True:\n        pass\n\n"
              "def intrinsic_reward(updated_s):\n    return 0.0\n")
    start = time.perf_counter()
    result = check_source_on_states(source, states, limits=SandboxLimits(cpu_seconds=60, wall_seconds=1.5))
    assert not result.valid and "timed out after 1.5 s" in result.reason
    assert time.perf_counter() - start < 45  # hang guard: well before the 60 s CPU limit could end it


def test_worker_that_cannot_start_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from lesr_local.errors import EXIT_INTERNAL, LesrError

    source = valid_cases()[0].source
    states = real_states("HalfCheetah-v5")
    monkeypatch.setattr(sys, "executable", "/bin/false")  # an interpreter that exits at once
    with pytest.raises(LesrError) as info:
        check_source_on_states(source, states)
    assert info.value.exit_code == EXIT_INTERNAL
    assert "candidate check worker failed" in str(info.value)
