"""`lesr models`, `lesr models add|prepare` and the bad inputs of the LLM commands, via the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from tests.conftest import run_lesr
from tests.helpers_llm import truncate, write_not_gguf, write_sparse_huge_gguf, write_tiny_gguf


def _one_line_bad_input(proc, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lesr: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def data_home(tmp_path: Path) -> dict[str, str]:
    """A private user data folder (where `lesr models add` puts models)."""
    return {"XDG_DATA_HOME": str(tmp_path / "xdg-data"), "LESR_MODEL": ""}


def test_models_json_lists_the_bundled_default(home: Path, data_home: dict[str, str]) -> None:
    proc = run_lesr("models", "--json", home=home, env=data_home)
    assert proc.returncode == 0, proc.stderr
    models = json.loads(proc.stdout)
    default = [m for m in models if m["default"]]
    assert len(default) == 1 and default[0]["name"] == "gemma-3-270m-q4_k_m"
    entry = default[0]
    assert entry["quantization"] == "Q4_K_M" and entry["chat_template"] is False
    assert entry["context_length"] == 32768 and entry["size_bytes"] > 200_000_000
    assert entry["parameters"] > 250_000_000 and entry["source"] == "bundled"
    text = run_lesr("models", home=home, env=data_home)
    assert text.returncode == 0 and "gemma" in text.stdout


def test_models_add_copies_or_links_a_valid_gguf(tmp_path: Path, home: Path, data_home: dict[str, str]) -> None:
    tiny = write_tiny_gguf(tmp_path / "tiny.gguf")
    proc = run_lesr("models", "add", str(tiny), "--json", home=home, env=data_home)
    assert proc.returncode == 0, proc.stderr
    added = json.loads(proc.stdout)
    target = Path(data_home["XDG_DATA_HOME"]) / "lesr-local" / "models" / "tiny.gguf"
    assert added["path"] == str(target) and target.read_bytes() == tiny.read_bytes()
    listed = json.loads(run_lesr("models", "--json", home=home, env=data_home).stdout)
    assert [m["name"] for m in listed if m["default"]] == ["tiny"]  # user folder before bundled
    again = run_lesr("models", "add", str(tiny), home=home, env=data_home)
    _one_line_bad_input(again, "already exists")
    linked = run_lesr("models", "add", str(tiny), "--link", "--name", "tiny-link", home=home, env=data_home)
    assert linked.returncode == 0, linked.stderr
    assert (target.parent / "tiny-link.gguf").is_symlink()
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("kind", ["missing", "not-gguf", "truncated"])
def test_models_add_rejects_bad_files(kind: str, tmp_path: Path, home: Path, data_home: dict[str, str]) -> None:
    path = tmp_path / "model.gguf"
    if kind == "not-gguf":
        write_not_gguf(path)
    elif kind == "truncated":
        truncate(write_tiny_gguf(path), 0.5)
    proc = run_lesr("models", "add", str(path), home=home, env=data_home)
    _one_line_bad_input(proc, {"missing": "not found", "not-gguf": "not a GGUF", "truncated": "truncated"}[kind])
    assert not (Path(data_home["XDG_DATA_HOME"]) / "lesr-local" / "models" / "model.gguf").exists()


def test_models_prepare_is_idempotent(home: Path) -> None:
    proc = run_lesr("models", "prepare", "--no-probe", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["already_prepared"] is True and Path(out["path"]).is_file()


def _bench(*extra: str, home: Path, env: dict[str, str] | None = None):
    return run_lesr("bench", "llm", "--env", "HalfCheetah-v5", "--samples", "1", "--max-tokens", "8",
                    "--json", *extra, home=home, env=env)


def test_bench_bad_inputs_are_one_line(tmp_path: Path, home: Path, data_home: dict[str, str]) -> None:
    not_gguf = write_not_gguf(tmp_path / "zip.gguf")
    truncated = truncate(write_tiny_gguf(tmp_path / "cut.gguf"), 0.5)
    huge = write_sparse_huge_gguf(tmp_path / "huge.gguf", int(psutil.virtual_memory().total * 2))
    unloadable = write_tiny_gguf(tmp_path / "tiny.gguf")  # valid GGUF, but no real weights
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cases = [
        (("--model", str(tmp_path / "absent.gguf")), home, ("model file not found",)),
        (("--model", str(not_gguf)), home, ("not a GGUF model",)),
        (("--model", str(truncated)), home, ("truncated GGUF",)),
        (("--model", str(huge)), home, ("needs about", "of memory is free")),
        (("--model", "no-such-model"), home, ("unknown model name",)),
        (("--model", str(unloadable)), home, ("llama.cpp could not load",)),
        ((), blocker / "home", ("not writable",)),
    ]
    for extra, where, fragments in cases:
        _one_line_bad_input(_bench(*extra, home=where, env=data_home), *fragments)


def test_prompt_over_the_context_is_bad_input(home: Path, data_home: dict[str, str]) -> None:
    proc = _bench("--max-tokens", "9000", home=home, env=data_home)
    _one_line_bad_input(proc, "prompt too long", "max_tokens 9000", "n_ctx=8192")


@pytest.mark.slow
def test_bench_llm_reports_the_figures(home: Path, data_home: dict[str, str]) -> None:
    proc = run_lesr("bench", "llm", "--env", "InvertedPendulum-v5", "--samples", "2", "--max-tokens", "300",
                    "--json", home=home, env=data_home, timeout=400)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for key in ("load_s", "prompt_tok_per_s", "gen_tok_per_s", "time_to_first_valid_s", "valid_rate",
                "prefix_reuse_speedup"):
        assert key in report
    assert report["validity"] == "candidate-checks"
    assert report["constrained"] is True and report["samples"] == 2
    # The second sample reuses the KV cache of the whole shared prompt; only its ~30-token focus
    # tail (its own starting dims) is evaluated anew.
    second = report["per_sample"][1]
    assert report["prompt_tokens"] - 60 <= second["cached_tokens"] < report["prompt_tokens"]
    assert report["distinct_valid_candidates"] == sum(s["valid"] for s in report["per_sample"])
