"""`--constrain auto` decides by a measured, remembered free-form probe per model file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lesr_local.candidates import constrain_rule
from lesr_local.candidates.constrain_rule import (
    PROBE_SAMPLES,
    FreeFormVerdict,
    decide_constrain,
    remember_verdict,
    remembered_verdict,
)
from lesr_local.errors import BadInput
from lesr_local.llm.discovery import load_model_info
from tests.helpers_llm import write_tiny_gguf


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _verdict(valid: int) -> FreeFormVerdict:
    return FreeFormVerdict(model="m", valid=valid, samples=3, constrain=valid < 2, env_id="Hopper-v5",
                           seconds=1.0, measured_at=0.0, reasons=["r"] * (3 - valid))


def test_on_and_off_need_no_measurement(cache: Path, tmp_path: Path) -> None:
    model = load_model_info(write_tiny_gguf(tmp_path / "m.gguf", chat_template="{{ messages }}"))
    assert decide_constrain("on", model) == (True, None)
    assert decide_constrain("off", model) == (False, None)
    with pytest.raises(BadInput, match="auto, on or off"):
        decide_constrain("sometimes", model)


def test_remembered_measurement_decides_and_is_tied_to_the_file(cache: Path, tmp_path: Path) -> None:
    # A chat model of 7B parameters would be free-form by the size rule; its measurement says otherwise.
    path = write_tiny_gguf(tmp_path / "chat.gguf", chat_template="{{ messages }}")
    model = load_model_info(path)
    model.parameters = 7_000_000_000
    assert decide_constrain("auto", model) == (False, None)  # nothing measured, no client: the prior rule
    remember_verdict(model, _verdict(valid=1))
    constrain, verdict = decide_constrain("auto", model)
    assert constrain is True and verdict is not None and verdict.valid == 1
    assert constrain_rule.cache_path().is_file() and str(cache) in str(constrain_rule.cache_path())
    remember_verdict(model, _verdict(valid=3))
    assert decide_constrain("auto", model)[0] is False
    # A changed file is another model: its old verdict no longer applies.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert remembered_verdict(model) is None


def test_corrupt_cache_means_measure_again(cache: Path, tmp_path: Path) -> None:
    model = load_model_info(write_tiny_gguf(tmp_path / "m.gguf"))
    constrain_rule.cache_path().parent.mkdir(parents=True)
    constrain_rule.cache_path().write_text("{not json")
    assert remembered_verdict(model) is None
    remember_verdict(model, _verdict(valid=2))
    assert remembered_verdict(model).valid == 2


@pytest.mark.slow
def test_real_measurement_of_the_chat_model(cache: Path) -> None:
    from lesr_local.llm.client import LLMClient
    from lesr_local.llm.packaged import packaged_model_paths

    # By path: resolving by name would assemble the bundled default into this test's empty cache.
    model = load_model_info(next(p for p in packaged_model_paths() if p.name.startswith("SmolLM2")))
    announced: list[bool] = []
    with LLMClient(model) as client:
        constrain, verdict = decide_constrain("auto", model, lambda: client, lambda: announced.append(True))
    assert announced == [True] and verdict is not None
    assert verdict.samples == PROBE_SAMPLES and len(verdict.reasons) == PROBE_SAMPLES - verdict.valid
    assert constrain is verdict.constrain is (verdict.valid < 2)
    assert all(reason and "\n" not in reason for reason in verdict.reasons)
    # Remembered: the next decision needs no model.
    assert decide_constrain("auto", model) == (constrain, remembered_verdict(model))
