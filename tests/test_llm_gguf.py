"""GGUF reading, discovery and the bundled default: fast tests on tiny generated GGUF files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lesr_local.errors import BadInput
from lesr_local.llm import bundled
from lesr_local.llm.discovery import discover_models, load_model_info, resolve_model
from lesr_local.llm.gguf_meta import read_gguf
from lesr_local.llm.memory import check_memory, effective_n_ctx
from tests.helpers_llm import truncate, write_not_gguf, write_sparse_huge_gguf, write_tiny_gguf


def test_reads_metadata_of_a_tiny_gguf(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "tiny.gguf", context_length=300, chat_template="{{ messages }}")
    info = read_gguf(path)
    assert info.architecture == "llama"
    assert info.context_length == 300
    assert info.quantization == "F32"
    assert info.parameters == 64
    assert info.chat_template == "{{ messages }}"
    assert info.data_end == info.size_bytes
    model = load_model_info(path)
    assert model.name == "tiny" and model.chat_template and model.context_length == 300


def test_reads_the_bundled_default_quickly() -> None:
    path = bundled.prepare_bundled()
    info = read_gguf(path)  # our reader, not gguf.GGUFReader (~13 s on this file)
    assert info.architecture == "gemma3"
    assert info.quantization == "Q4_K_M"
    assert info.context_length == 32768
    assert info.chat_template is None
    assert info.vocab_size == 262144
    assert 250e6 < info.parameters < 300e6


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "model file not found"),
        (lambda p: write_not_gguf(p), "is not a GGUF model"),
        (lambda p: truncate(write_tiny_gguf(p), 0.6), "truncated GGUF"),
        (lambda p: truncate(write_tiny_gguf(p), 0.2), "truncated GGUF"),
        (lambda p: (p.mkdir(), p)[1], "is a directory"),
        (lambda p: (p.write_bytes(b"GGUF"), p)[1], "is not a GGUF model"),
    ],
    ids=["missing", "not-gguf", "truncated-data", "truncated-header", "directory", "tiny"],
)
def test_bad_model_files_are_one_line_bad_input(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "model.gguf"
    make(path)
    with pytest.raises(BadInput) as err:
        read_gguf(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_memory_estimate_rejects_a_model_larger_than_free_memory(tmp_path: Path) -> None:
    import psutil

    huge = write_sparse_huge_gguf(tmp_path / "huge.gguf", int(psutil.virtual_memory().available * 1.5))
    with pytest.raises(BadInput, match="needs about .* GB .* only .* GB of memory is free"):
        check_memory(read_gguf(huge), 512)
    check_memory(read_gguf(write_tiny_gguf(tmp_path / "tiny.gguf")), 512)  # fits


def test_effective_context() -> None:
    assert effective_n_ctx(0, 32768) == 8192
    assert effective_n_ctx(0, 2048) == 2048
    assert effective_n_ctx(0, None) == 4096
    assert effective_n_ctx(4000, 2048) == 2048
    with pytest.raises(BadInput):
        effective_n_ctx(-1, 2048)


def test_discovery_order_and_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("LESR_MODEL", raising=False)
    user_dir = tmp_path / "data" / "lesr-local" / "models"
    user_dir.mkdir(parents=True)
    write_tiny_gguf(user_dir / "alpha.gguf")
    write_not_gguf(user_dir / "broken.gguf")  # skipped, not fatal
    models = discover_models()
    names = [m.name for m in models]
    assert "alpha" in names and "broken" not in names
    assert names.index("alpha") < names.index("gemma-3-270m-q4_k_m")  # user folder before bundled
    assert [m.name for m in models if m.default] == ["alpha"]
    assert resolve_model("alpha").source == "user"
    assert resolve_model(str(user_dir / "alpha.gguf")).source == "flag"
    monkeypatch.setenv("LESR_MODEL", "gemma-3-270m-q4_k_m")
    assert resolve_model(None).name == "gemma-3-270m-q4_k_m"
    assert resolve_model("alpha").name == "alpha"  # the flag beats the environment


def test_unknown_model_name_suggests_close_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LESR_MODEL", raising=False)
    with pytest.raises(BadInput, match="did you mean gemma-3-270m-q4_k_m"):
        resolve_model("gemma-3-270m-q4")
    with pytest.raises(BadInput, match="unknown model name 'nothing-like-it'"):
        resolve_model("nothing-like-it")
    with pytest.raises(BadInput, match="model file not found"):
        resolve_model("/no/such/model.gguf")


def test_bundled_prepare_is_atomic_idempotent_and_cheap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert not bundled.is_prepared()
    path = bundled.prepare_bundled()
    assert path.parent == tmp_path / "cache" / "lesr-local" / "models"
    assert bundled.is_prepared()
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    mtime = path.stat().st_mtime_ns
    # A marker hit reads nothing: a same-size change under the recorded mtime is not even noticed
    # (a re-hash would rebuild the file), so the 250 MB file is neither hashed nor rewritten.
    with path.open("r+b") as fh:
        fh.seek(2000)
        original = fh.read(4)
        fh.seek(2000)
        fh.write(b"LESR")
    os.utime(path, ns=(mtime, mtime))
    assert bundled.prepare_bundled() == path
    with path.open("rb") as fh:
        fh.seek(2000)
        assert fh.read(4) == b"LESR"
        assert original != b"LESR"
    assert path.stat().st_mtime_ns == mtime
    # A damaged file is detected (the marker no longer matches) and rebuilt.
    with path.open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0" * 16)
    assert not bundled.is_prepared()
    assert bundled.prepare_bundled() == path
    assert bundled.is_prepared()
