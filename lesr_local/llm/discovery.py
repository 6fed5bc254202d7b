"""Find GGUF models: --model PATH|NAME, $LESR_MODEL, the project's models/, the user's data folder,
the bundled default (assembled on demand into the user cache; never downloaded), then models that
installed packages ship (llm/packaged.py; found after the bundled one, so it stays the default)."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from lesr_local.errors import BadInput
from lesr_local.llm import bundled
from lesr_local.llm.gguf_meta import GGUFInfo, read_gguf
from lesr_local.llm.packaged import packaged_model_paths
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


def model_name(path: Path) -> str:
    """A model's name is its file name without .gguf (what `--model NAME` matches)."""
    return path.name[:-5] if path.name.lower().endswith(".gguf") else path.name


def info_from_gguf(meta: GGUFInfo, source: str, default: bool = False) -> ModelInfo:
    return ModelInfo(
        name=model_name(meta.path), path=meta.path.resolve(), size_bytes=meta.size_bytes,
        quantization=meta.quantization, parameters=meta.parameters or None,
        context_length=meta.context_length, chat_template=meta.chat_template is not None,
        architecture=meta.architecture, default=default, source=source,
    )


def load_model_info(path: str | Path, source: str = "flag") -> ModelInfo:
    """Validate one GGUF file and describe it (BadInput if missing, not GGUF or truncated)."""
    return info_from_gguf(read_gguf(path), source)


def _folder_files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".gguf" and not p.name.startswith("."))
    except OSError:
        return []


def scan_models(prepare_default: bool = True) -> tuple[list[ModelInfo], list[ScanProblem]]:
    """Every usable model in discovery order, plus files that looked like models but are not."""
    found: list[ModelInfo] = []
    problems: list[ScanProblem] = []
    seen: set[Path] = set()

    def add(path: Path, source: str) -> None:
        resolved = path.resolve()
        if resolved in seen:
            return
        seen.add(resolved)
        try:
            found.append(load_model_info(path, source))
        except BadInput as exc:
            problems.append(ScanProblem(path, str(exc)))

    env_spec = os.environ.get(ENV_VAR)
    if env_spec and _looks_like_path(env_spec):
        add(Path(env_spec).expanduser(), "env")
    for folder, source in ((project_models_dir(), "project"), (user_models_dir(), "user")):
        for path in _folder_files(folder):
            add(path, source)
    bundled_path = _bundled_path(prepare_default, problems)
    if bundled_path is not None:
        add(bundled_path, "bundled")
    for path in packaged_model_paths():
        add(path, "package")
    return found, problems


def _bundled_path(prepare: bool, problems: list[ScanProblem]) -> Path | None:
    try:
        if prepare:
            return bundled.prepare_bundled()
        target = bundled.bundled_target()
        return target if target.exists() else None
    except BadInput as exc:
        problems.append(ScanProblem(Path("<bundled>"), str(exc)))
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
            return _resolve_spec(env_spec, "env", models).path
        except BadInput:
            return None
    return models[0].path if models else None


def bundled_model_path() -> Path:
    """The bundled default, assembled once into the user cache with its sha256 checked."""
    return bundled.prepare_bundled()


def resolve_model(spec: str | None = None) -> ModelInfo:
    """The model to use: `spec` (--model PATH|NAME), else $LESR_MODEL, else the first discovered."""
    if spec:
        return _mark_default(_resolve_spec(spec, "flag", None))
    env_spec = os.environ.get(ENV_VAR)
    if env_spec:
        return _mark_default(_resolve_spec(env_spec, "env", None))
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


def _resolve_spec(spec: str, source: str, models: list[ModelInfo] | None) -> ModelInfo:
    if _looks_like_path(spec) or Path(spec).expanduser().is_file():
        return load_model_info(Path(spec).expanduser(), source)
    if models is None:
        models, _ = scan_models()
    wanted = spec.lower()
    for model in models:
        if model.name.lower() == wanted:
            return model
    names = [m.name for m in models]
    close = difflib.get_close_matches(spec, names, n=3, cutoff=0.5)
    if close:
        raise BadInput(f"unknown model name {spec!r}; did you mean {', '.join(close)}?")
    available = ", ".join(names) if names else "none (run `lesr models prepare`)"
    raise BadInput(f"unknown model name {spec!r}; available: {available}")


def is_small_or_base(model: ModelInfo) -> bool:
    """Base models (no chat template) and small ones write poor free-form code: constrain them."""
    if not model.chat_template:
        return True
    return model.parameters is not None and model.parameters <= SMALL_MODEL_PARAMETERS
