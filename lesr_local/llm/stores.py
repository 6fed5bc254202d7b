"""GGUF models where people already keep them: Ollama's store, LM Studio's folder, the Hugging Face
hub cache and llama.cpp's own download cache. Read in place from disk (nothing is copied, no hub
API is called: those contact the network even for cached files).

Each entry has the name a user of that tool would type, which `--model` accepts:
- ollama: `qwen2.5-coder:7b` (library models), `user/model:tag`, `host/namespace/model:tag`. A
  manifest (`manifests/<registry>/<namespace>/<name>/<tag>`, JSON) names its layers; the one of
  media type `application/vnd.ollama.image.model` is a plain GGUF under `blobs/sha256-<hex>`.
  `OLLAMA_MODELS` moves the store; a Linux service install keeps it under /usr/share/ollama.
- lmstudio: `<publisher>/<model>/<file>.gguf`, its path under `~/.lmstudio/models` (or the
  `downloadsFolder` of LM Studio's settings.json; older versions: `~/.cache/lm-studio/models`).
- hf-cache: `<org>/<repo>/<file>.gguf` from `models--<org>--<repo>/snapshots/<rev>/`, the
  revision `refs/main` points at first (`HF_HUB_CACHE`, `HF_HOME`, `XDG_CACHE_HOME` move it).
- llama.cpp-cache: `<org>/<repo>:<tag>` where llama.cpp's `-hf` left a manifest naming the file,
  else the file name (`LLAMA_CACHE` moves it).

Entries that cannot be used carry a reason (a missing layer, a split model, a projector); the
GGUF header itself is validated by discovery, as for any file.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

OLLAMA = "ollama"
LMSTUDIO = "lmstudio"
HF_CACHE = "hf-cache"
LLAMA_CPP_CACHE = "llama.cpp-cache"
OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
OLLAMA_DEFAULT_REGISTRY = "registry.ollama.ai"
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
_MAX_FILES_PER_STORE = 2000  # a runaway folder must not make `lesr models` walk a whole disk


@dataclass
class StoreEntry:
    source: str
    name: str  # what --model accepts
    path: Path  # the GGUF (or what stands where it should be)
    reason: str | None = None  # why it cannot be used; None = validate its header


def store_entries() -> list[StoreEntry]:
    """Every store's entries, in the order ollama, lmstudio, hf-cache, llama.cpp-cache."""
    entries: list[StoreEntry] = []
    for root in ollama_roots():
        entries += ollama_entries(root)
    for root in lmstudio_roots():
        entries += lmstudio_entries(root)
    entries += hf_cache_entries(hf_hub_cache(), HF_CACHE)
    entries += llama_cpp_cache_entries(llama_cpp_cache())
    return entries


def _home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def _unique(paths: list[Path]) -> list[Path]:
    seen: set[Path] = set()
    out = []
    for path in paths:
        key = path.expanduser().resolve() if path.exists() else path
        if key not in seen and path.is_dir():
            seen.add(key)
            out.append(path.expanduser())
    return out


def _split_reason(path: Path) -> str | None:
    match = _SPLIT.search(path.name)
    if match and int(match.group(2)) > 1:
        return (f"a split model (part {int(match.group(1))} of {int(match.group(2))}); lesr-local loads "
                "single-file GGUF models: merge the parts with `llama-gguf-split --merge`")
    return None


def _is_later_split_part(path: Path) -> bool:
    match = _SPLIT.search(path.name)
    return bool(match and int(match.group(1)) > 1)


def _projector_reason(path: Path) -> str | None:
    if path.name.lower().startswith("mmproj"):
        return "a vision projector (mmproj), not a language model"
    return None


def _gguf_files(folder: Path, recursive: bool) -> list[Path]:
    try:
        found = folder.rglob("*") if recursive else folder.iterdir()
        files = []
        for path in found:
            if path.name.lower().endswith(".gguf") and not path.name.startswith("."):
                files.append(path)
                if len(files) >= _MAX_FILES_PER_STORE:
                    break
        return sorted(files)
    except OSError:
        return []


def _file_entry(source: str, name: str, path: Path) -> StoreEntry | None:
    if _is_later_split_part(path):
        return None  # the first part stands for the model
    reason = _split_reason(path) or _projector_reason(path)
    if reason is None and not path.exists():
        reason = "the file is missing (a dangling link: an unfinished or deleted download?)"
    return StoreEntry(source, name, path, reason)


# -- Ollama ------------------------------------------------------------------------------------

def ollama_roots() -> list[Path]:
    env = os.environ.get("OLLAMA_MODELS")
    roots = [Path(env)] if env else [_home() / ".ollama" / "models"]
    if sys.platform.startswith("linux") and not env:
        roots.append(Path("/usr/share/ollama/.ollama/models"))  # the systemd service's home
    return _unique(roots)


def ollama_name(registry: str, namespace: str, model: str, tag: str) -> str:
    if registry == OLLAMA_DEFAULT_REGISTRY:
        return f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
    return f"{registry}/{namespace}/{model}:{tag}"


def _ollama_manifests(root: Path) -> Iterator[tuple[Path, tuple[str, str, str, str]]]:
    base = root / "manifests"
    try:
        registries = sorted(p for p in base.iterdir() if p.is_dir())
    except OSError:
        return
    count = 0
    for registry in registries:
        for namespace in sorted(p for p in registry.iterdir() if p.is_dir()):
            for model in sorted(p for p in namespace.iterdir() if p.is_dir()):
                for tag in sorted(p for p in model.iterdir() if p.is_file() and not p.name.startswith(".")):
                    count += 1
                    if count > _MAX_FILES_PER_STORE:
                        return
                    yield tag, (registry.name, namespace.name, model.name, tag.name)


def ollama_entries(root: Path) -> list[StoreEntry]:
    entries = []
    for manifest, parts in _ollama_manifests(root):
        name = ollama_name(*parts)
        try:
            data = json.loads(manifest.read_text())
            layers = data.get("layers") or []
        except (OSError, ValueError, AttributeError):
            entries.append(StoreEntry(OLLAMA, name, manifest, "its manifest is not readable JSON"))
            continue
        model_layers = [layer for layer in layers if isinstance(layer, dict)
                        and layer.get("mediaType") == OLLAMA_MODEL_LAYER]
        if not model_layers:
            kinds = ", ".join(sorted({str(layer.get("mediaType", "?")).rsplit(".", 1)[-1]
                                      for layer in layers if isinstance(layer, dict)})) or "none"
            entries.append(StoreEntry(OLLAMA, name, manifest, f"no GGUF model layer (layers: {kinds})"))
            continue
        digest = str(model_layers[0].get("digest", ""))
        algo, _, hexdigest = digest.partition(":")
        if not hexdigest:
            entries.append(StoreEntry(OLLAMA, name, manifest, f"its model layer has no digest ({digest!r})"))
            continue
        blob = root / "blobs" / f"{algo}-{hexdigest}"
        if not blob.exists() and (root / "blobs" / f"{algo}:{hexdigest}").exists():
            blob = root / "blobs" / f"{algo}:{hexdigest}"  # older Ollama versions
        if not blob.is_file():
            entries.append(StoreEntry(OLLAMA, name, blob,
                                      f"its model layer {algo}-{hexdigest[:12]}… is missing (an unfinished pull?)"))
            continue
        entries.append(StoreEntry(OLLAMA, name, blob))
    return entries


# -- LM Studio ---------------------------------------------------------------------------------

def lmstudio_roots() -> list[Path]:
    home = _home()
    roots = []
    settings = home / ".lmstudio" / "settings.json"
    try:
        folder = json.loads(settings.read_text()).get("downloadsFolder")
        if folder:
            roots.append(Path(folder).expanduser())
    except (OSError, ValueError, AttributeError):
        pass
    roots += [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    return _unique(roots)


def lmstudio_entries(root: Path) -> list[StoreEntry]:
    entries = []
    for path in _gguf_files(root, recursive=True):
        rel = path.relative_to(root)
        if len(rel.parts) < 3:
            continue  # LM Studio's layout is <publisher>/<model>/<file>
        entry = _file_entry(LMSTUDIO, rel.as_posix(), path)
        if entry is not None:
            entries.append(entry)
    return entries


# -- Hugging Face hub cache --------------------------------------------------------------------

def hf_hub_cache() -> Path:
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else _home() / ".cache"
    return cache / "huggingface" / "hub"


def _repo_id(folder: Path) -> str | None:
    parts = folder.name.split("--")
    if len(parts) < 3 or parts[0] != "models":
        return None
    return f"{parts[1]}/{'--'.join(parts[2:])}"


def hf_cache_entries(root: Path, source: str) -> list[StoreEntry]:
    entries = []
    try:
        repos = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("models--"))
    except OSError:
        return []
    for repo in repos:
        repo_id = _repo_id(repo)
        if repo_id is None:
            continue
        snapshots = repo / "snapshots"
        try:
            main = (repo / "refs" / "main").read_text().strip()
        except OSError:
            main = ""
        try:
            revisions = sorted((p for p in snapshots.iterdir() if p.is_dir()),
                               key=lambda p: (p.name != main, -p.stat().st_mtime))
        except OSError:
            continue
        taken: set[str] = set()
        for revision in revisions:  # refs/main first, then the newest; one entry per file
            for path in _gguf_files(revision, recursive=True):
                rel = path.relative_to(revision).as_posix()
                if rel in taken:
                    continue
                taken.add(rel)
                entry = _file_entry(source, f"{repo_id}/{rel}", path)
                if entry is not None:
                    entries.append(entry)
    return entries


# -- llama.cpp's cache -------------------------------------------------------------------------

def llama_cpp_cache() -> Path:
    if os.environ.get("LLAMA_CACHE"):
        return Path(os.environ["LLAMA_CACHE"]).expanduser()
    if sys.platform == "darwin":
        return _home() / "Library" / "Caches" / "llama.cpp"
    cache = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else _home() / ".cache"
    return cache / "llama.cpp"


def llama_cpp_cache_entries(root: Path) -> list[StoreEntry]:
    """Flat `<org>_<repo>_<file>.gguf` downloads (named by their `manifest=<org>=<repo>=<tag>.json`
    where one exists), and any hub-cache layout llama.cpp keeps there."""
    names: dict[str, str] = {}
    try:
        manifests = sorted(root.glob("manifest=*.json"))
    except OSError:
        return []
    for manifest in manifests:
        parts = manifest.name[len("manifest="):-len(".json")].split("=")
        if len(parts) != 3:
            continue
        org, repo, tag = parts
        try:
            rfilename = json.loads(manifest.read_text())["ggufFile"]["rfilename"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        names[f"{org}_{repo}_{str(rfilename).replace('/', '_')}"] = f"{org}/{repo}:{tag}"
    entries = []
    for path in _gguf_files(root, recursive=False):
        entry = _file_entry(LLAMA_CPP_CACHE, names.get(path.name, path.name[:-5]), path)
        if entry is not None:
            entries.append(entry)
    return entries + hf_cache_entries(root, LLAMA_CPP_CACHE)
