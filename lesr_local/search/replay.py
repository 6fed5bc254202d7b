"""A replay LLM: answers the search's candidate prompts with stored candidate code, in order.

`lesr bench search` uses it to push one fixed set of candidates through the search twice (with and
without pruning) so that only the pruning differs, and the engine tests use it so that a search is
deterministic without a model. It has LLMClient's surface (start, n_ctx, count_tokens, generate,
close); the engine reaches it through `SearchEngine(..., llm_client_factory=...)`.

Candidate and repair prompts (rendered ending in the code fence) get the next stored module, as the
continuation of that fence: under a grammar the reply starts at the imports; without one the prompt
already holds `import numpy as np ... def revise_state(s):`, so that part of the module is dropped.
When the list is used up, the reply has no code (the sample is rejected like an empty reply).
Analysis prompts get a fixed sentence. Nothing is sent to a model, so token counts are word counts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from lesr_local.candidates.prompts import CANDIDATE_CODE_PREFIX
from lesr_local.candidates.repair import code_prefix
from lesr_local.llm.client import Generation, GenerationParams

REPLAY_ANALYSIS = "Replayed run: no analysis was written (the candidates come from a fixed list)."
REPLAY_N_CTX = 1 << 20  # nothing is evaluated: let every prompt fit


class ReplayClient:
    def __init__(self, model: Any, codes: Sequence[str], n_ctx: int = 0) -> None:
        self.model = model
        self.codes = list(codes)
        self.n_ctx = REPLAY_N_CTX
        self.served = 0  # candidate replies handed out so far
        self._lock = threading.Lock()

    def start(self) -> None:
        """Nothing to load."""

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def fits(self, prompt: str, max_tokens: int) -> bool:
        return self.count_tokens(prompt) + max_tokens <= self.n_ctx

    def generate(self, prompt: str, params: GenerationParams, on_token: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None, **_: Any) -> Generation:
        prefix = code_prefix(params)
        # a candidate or repair prompt ends in the code fence; the analysis prompt does not
        text = self._next_code(prefix) if prompt.endswith(prefix) else REPLAY_ANALYSIS
        if on_token is not None and text:
            on_token(text)
        return Generation(text=text, prompt_tokens=self.count_tokens(prompt), completion_tokens=self.count_tokens(text),
                          seconds=0.0, prompt_seconds=0.0, finish_reason="stop", seed=params.seed or 0)

    def _next_code(self, prefix: str) -> str:
        with self._lock:
            if self.served >= len(self.codes):
                return "no more stored candidates\n```"
            code = self.codes[self.served].strip() + "\n"
            self.served += 1
        body = CANDIDATE_CODE_PREFIX[len("```python\n"):]
        if prefix == CANDIDATE_CODE_PREFIX and code.startswith(body):
            code = code[len(body):]
        return code + "```"

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> ReplayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def replay_factory(codes: Sequence[str]) -> Callable[..., ReplayClient]:
    """An `llm_client_factory` for SearchEngine: one ReplayClient over `codes` per drive."""

    def make(model: Any, n_ctx: int = 0) -> ReplayClient:
        return ReplayClient(model, codes, n_ctx)

    return make
