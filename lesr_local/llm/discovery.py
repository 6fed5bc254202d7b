"""Find GGUF models: --model PATH|NAME, $LESR_MODEL, the project's models/, the user's data folder,
the bundled default (assembled on demand into the user cache; never downloaded), models that
installed packages ship (llm/packaged.py), then the stores of other tools, read in place
(llm/stores.py: Ollama, LM Studio, the Hugging Face hub cache, llama.cpp's cache). Everything
after the bundled model is found after it, so it stays the default."""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from lesr_local.errors import BadInput
from lesr_local.llm import bundled
from lesr_local.llm.gguf_meta import GGUFInfo, read_gguf
from lesr_local.llm.packaged import packaged_model_paths
from lesr_local.llm.runtime_archs import architecture_known
from lesr_local.llm.stores import OLLAMA, store_entries
from lesr_local.workspace import project_models_dir, user_models_dir

ENV_VAR = "LESR_MODEL"
# Models at or under this many parameters count as "small" (constrained decoding on in auto mode).
SMALL_MODEL_PARAMETERS = 2_000_000_000


@dataclass
class ModelInfo:
    name: str
    path: Path
    size_bytes: int
    quantization: str | None
    parameters: int | None
    context_length: int | None
    chat_template: bool
    architecture: str | None
    default: bool
    # "flag" | "env" | "project" | "user" | "bundled" | "package" | a store (llm/stores.py) | "server"
    source: str
    url: str | None = None  # a model served by a llama.cpp server (llm/server.py): its address
    served_by: str | None = None  # "llama-server" | "llama-cpp-python" for a served model
    chat_template_text: str | None = None  # a served model's template, as its server reports it

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "name": self.name, "path": str(self.path), "size_bytes": self.size_bytes,
            "quantization": self.quantization, "parameters": self.parameters,
            "context_length": self.context_length, "chat_template": self.chat_template,
            "architecture": self.architecture, "default": self.default, "source": self.source,
        }
        if self.url is not None:
            data |= {"url": self.url, "served_by": self.served_by}
        return data

    def identity(self) -> str:
        """What a remembered measurement of this model (constrain_rule) is keyed by."""
        if self.url is not None:
            return f"server:{self.url}:{self.name}:{self.size_bytes}:{self.parameters}"
        path = Path(self.path).resolve()
        try:
            st = path.stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        return f"{path}:{stamp}"


@dataclass
class ScanProblem:
    path: Path
    reason: str
    source: str | None = None  # where it was found (a store, a folder)
    name: str | None = None  # the name it would have had

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "path": str(self.path), "source": self.source, "usable": False,
                "default": False, "reason": self.reason}


@dataclass
class _Candidate:
    name: str
    path: Path
    source: str
    reason: str | None = None  # known unusable before its header is read


def model_name(path: Path) -> str:
    """A file's model name is its file name without .gguf (what `--model NAME` matches)."""
    return path.name[:-5] if path.name.lower().endswith(".gguf") else path.name


def info_from_gguf(meta: GGUFInfo, source: str, default: bool = False, name: str | None = None) -> ModelInfo:
    return ModelInfo(
        name=name or model_name(meta.path), path=meta.path.resolve(), size_bytes=meta.size_bytes,
        quantization=meta.quantization, parameters=meta.parameters or None,
        context_length=meta.context_length, chat_template=meta.chat_template is not None,
        architecture=meta.architecture, default=default, source=source,
    )


def unusable_reason(meta: GGUFInfo) -> str | None:
    """Why llama.cpp here could not run this valid GGUF as a language model (None: it should)."""
    split = meta.get("split.count")
    if split is not None and int(split) > 1:
        return (f"a split model ({int(split)} parts); lesr-local loads single-file GGUF models: merge the "
                "parts with `llama-gguf-split --merge`")
    if meta.architecture == "clip":
        return "a vision projector (mmproj), not a language model"
    if architecture_known(meta.architecture) is False:
        return (f"architecture {meta.architecture!r} is unknown to this llama.cpp build; a newer "
                "llama-cpp-python may know it")
    return None


def load_model_info(path: str | Path, source: str = "flag", name: str | None = None) -> ModelInfo:
    """Validate one GGUF file and describe it (BadInput if missing, not GGUF, truncated, or a GGUF
    this llama.cpp cannot run: a split model, a projector, an unknown architecture)."""
    meta = read_gguf(path)
    reason = unusable_reason(meta)
    if reason is not None:
        raise BadInput(f"{meta.path} cannot be used: {reason}")
    return info_from_gguf(meta, source, name=name)


def _folder_files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".gguf" and not p.name.startswith("."))
    except OSError:
        return []


def _candidates(prepare_default: bool, problems: list[ScanProblem]) -> list[_Candidate]:
    """Every place a model may be, in discovery order, named but not read yet (cheap)."""
    found: list[_Candidate] = []
    env_spec = os.environ.get(ENV_VAR)
    if env_spec and _looks_like_path(env_spec) and Path(env_spec).expanduser().is_file():
        path = Path(env_spec).expanduser()
        found.append(_Candidate(model_name(path), path, "env"))
    for folder, source in ((project_models_dir(), "project"), (user_models_dir(), "user")):
        found += [_Candidate(model_name(path), path, source) for path in _folder_files(folder)]
    bundled_path = _bundled_path(prepare_default, problems)
    if bundled_path is not None:
        found.append(_Candidate(model_name(bundled_path), bundled_path, "bundled"))
    found += [_Candidate(model_name(path), path, "package") for path in packaged_model_paths()]
    found += [_Candidate(e.name, e.path, e.source, e.reason) for e in store_entries()]
    return found


def scan_models(prepare_default: bool = True) -> tuple[list[ModelInfo], list[ScanProblem]]:
    """Every usable model in discovery order, plus what looked like a model but cannot be used."""
    found: list[ModelInfo] = []
    problems: list[ScanProblem] = []
    seen: set[tuple[Path, str]] = set()
    read: dict[Path, ModelInfo | BadInput] = {}  # one header read per file, however many names it has
    for cand in _candidates(prepare_default, problems):
        if cand.reason is not None:
            problems.append(ScanProblem(cand.path, cand.reason, cand.source, cand.name))
            continue
        resolved = cand.path.resolve()
        if (resolved, cand.name) in seen:
            continue  # the same file under the same name twice (a link in a folder we also scan)
        seen.add((resolved, cand.name))
        if resolved not in read:
            try:
                read[resolved] = load_model_info(cand.path, cand.source)
            except BadInput as exc:
                read[resolved] = exc
        result = read[resolved]
        if isinstance(result, BadInput):
            problems.append(ScanProblem(cand.path, str(result), cand.source, cand.name))
        else:
            found.append(dataclasses.replace(result, name=cand.name, source=cand.source))
    return found, problems


def _bundled_path(prepare: bool, problems: list[ScanProblem]) -> Path | None:
    try:
        if prepare:
            return bundled.prepare_bundled()
        target = bundled.bundled_target()
        return target if target.exists() else None
    except BadInput as exc:
        problems.append(ScanProblem(Path("<bundled>"), str(exc), "bundled"))
        return None


def discover_models() -> list[ModelInfo]:
    """Usable models in discovery order; the one `resolve_model(None)` picks has default=True."""
    models, _ = scan_models()
    default_path = _default_path(models)
    for model in models:
        model.default = model.path == default_path
    return models


def _default_path(models: list[ModelInfo]) -> Path | None:
    env_spec = os.environ.get(ENV_VAR)
    if env_spec:
        try:
            return _resolve_spec(env_spec, "env").path
        except BadInput:
            return None
    return models[0].path if models else None


def bundled_model_path() -> Path:
    """The bundled default, assembled once into the user cache with its sha256 checked."""
    return bundled.prepare_bundled()


def resolve_model(spec: str | None = None) -> ModelInfo:
    """The model to use: `spec` (--model PATH|NAME), else $LESR_MODEL, else the first discovered."""
    if spec:
        return _mark_default(_resolve_spec(spec, "flag"))
    env_spec = os.environ.get(ENV_VAR)
    if env_spec:
        return _mark_default(_resolve_spec(env_spec, "env"))
    models, problems = scan_models()
    if not models:
        hint = f" ({problems[0].reason})" if problems else ""
        raise BadInput(f"no GGUF model found; run `lesr models prepare` or pass --model PATH{hint}")
    return _mark_default(models[0])


def _mark_default(model: ModelInfo) -> ModelInfo:
    model.default = True
    return model


def _looks_like_path(spec: str) -> bool:
    return os.sep in spec or "/" in spec or spec.lower().endswith(".gguf") or spec.startswith("~")


def _resolve_spec(spec: str, source: str) -> ModelInfo:
    """A file path, else a name from discovery (a file's name, or a store's: `qwen2.5-coder:7b`,
    `org/repo/file.gguf`, ...); only the matching file's header is read."""
    path = Path(spec).expanduser()
    if path.is_file():
        return load_model_info(path, source)
    candidates = _candidates(True, [])
    wanted = spec.lower()
    wanted_tagged = wanted if ":" in wanted else wanted + ":latest"  # Ollama's default tag
    for cand in candidates:
        name = cand.name.lower()
        if name == wanted or (cand.source == OLLAMA and name == wanted_tagged):
            if cand.reason is not None:
                raise BadInput(f"{cand.source} model {cand.name!r} cannot be used: {cand.reason}")
            return load_model_info(cand.path, cand.source if source == "flag" else source, name=cand.name)
    names = [c.name for c in candidates if c.reason is None]
    close = difflib.get_close_matches(spec, names, n=3, cutoff=0.5)
    if close:
        raise BadInput(f"unknown model name {spec!r}; did you mean {', '.join(close)}?")
    if _looks_like_path(spec):
        return load_model_info(path, source)  # a path that does not exist: "model file not found"
    available = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "") if names else \
        "none (run `lesr models prepare`)"
    raise BadInput(f"unknown model name {spec!r}; available: {available}")


def is_small_or_base(model: ModelInfo) -> bool:
    """Base models (no chat template) and small ones write poor free-form code: constrain them."""
    if not model.chat_template:
        return True
    return model.parameters is not None and model.parameters <= SMALL_MODEL_PARAMETERS
