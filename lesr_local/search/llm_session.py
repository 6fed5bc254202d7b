"""One LLM per run, started on first use, with every exchange recorded in the store.

Each call has a stable key within the run ("i0-k1-a0" = iteration 0, sample 1, attempt 0;
"analysis-i0"). A key already in the store is answered from it, so a resumed run never asks the
model again for an exchange that finished; only an exchange cut off mid-generation is repeated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lesr_local import events as ev
from lesr_local.llm.client import Generation, LLMClient
from lesr_local.llm.server import client_for
from lesr_local.store import Store

if TYPE_CHECKING:
    from lesr_local.llm.client import Generation, GenerationParams, LLMClient
    from lesr_local.llm.discovery import ModelInfo


class GenerationCancelled(Exception):
    """The user stopped the run while the model was writing."""


class LLMSession:
    def __init__(self, store: Store, run_id: str, model: ModelInfo, n_ctx: int, sink: ev.EventSink,
                 cancel: threading.Event, client_factory: Callable[..., Any] | None = None) -> None:
        # None = the model's own client (llm.server.client_for: in-process or its server);
        # search.replay.replay_factory(codes) replays
        self._client_factory = client_factory
        self.store = store
        self.run_id = run_id
        self.model = model
        self._n_ctx = n_ctx
        self.sink = sink
        self.cancel = cancel
        self._client: LLMClient | None = None

    def client(self) -> LLMClient:
        if self._client is None:
            client = (self._client_factory or client_for)(self.model, n_ctx=self._n_ctx)
            if hasattr(client, "on_notice"):  # a server's retries, one line each
                client.on_notice = self._notice
            client.start()
            self._client = client
        return self._client

    def _notice(self, message: str) -> None:
        self.sink(ev.Log(self.run_id, level="warning", message=message))

    @property
    def n_ctx(self) -> int:
        return int(self.client().n_ctx)

    def count_tokens(self, text: str) -> int:
        return int(self.client().count_tokens(text))

    def fits(self, prompt: str, max_tokens: int) -> bool:
        return self.count_tokens(prompt) + max_tokens <= self.n_ctx

    def recorded(self, call_key: str) -> bool:
        return self.store.find_llm_call(self.run_id, call_key) is not None

    def generate(self, call_key: str, *, purpose: str, iteration: int, sample: int, attempt: int,
                 prompt: str, params: GenerationParams) -> Generation:
        done = self.store.find_llm_call(self.run_id, call_key)
        if done is not None:
            return Generation(
                text=done.reply, prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens,
                seconds=done.seconds, prompt_seconds=0.0, finish_reason=done.finish_reason,
            )
        if self.cancel.is_set():
            raise GenerationCancelled()
        client = self.client()
        prompt_tokens = client.count_tokens(prompt)
        self.sink(ev.LLMStarted(self.run_id, purpose=purpose, iteration=iteration, sample=sample,
                                prompt_tokens=prompt_tokens))

        def on_token(text: str) -> None:
            self.sink(ev.LLMToken(self.run_id, purpose=purpose, iteration=iteration, sample=sample, text=text))

        gen = client.generate(prompt, params, on_token=on_token, cancel=self.cancel)
        if gen.finish_reason == "cancelled" or self.cancel.is_set():
            raise GenerationCancelled()
        self.store.record_llm_call(
            self.run_id, call_key, purpose=purpose, iteration=iteration, sample=sample, attempt=attempt,
            prompt=prompt, reply=gen.text, prompt_tokens=gen.prompt_tokens,
            completion_tokens=gen.completion_tokens, seconds=gen.seconds, finish_reason=gen.finish_reason,
        )
        rate = gen.completion_tokens / gen.seconds if gen.seconds > 0 else 0.0
        self.sink(ev.LLMFinished(
            self.run_id, purpose=purpose, iteration=iteration, sample=sample, prompt_tokens=gen.prompt_tokens,
            completion_tokens=gen.completion_tokens, seconds=gen.seconds, tokens_per_s=rate,
        ))
        return gen

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class SampleClient:
    """What the repair loop talks to for one sample: LLMClient's surface, with recorded exchanges."""

    def __init__(self, session: LLMSession, iteration: int, sample: int) -> None:
        self.session = session
        self.iteration = iteration
        self.sample = sample
        self.attempt = 0

    @property
    def n_ctx(self) -> int:
        return self.session.n_ctx

    @property
    def model(self) -> ModelInfo:
        return self.session.model

    def count_tokens(self, text: str) -> int:
        return self.session.count_tokens(text)

    def generate(self, prompt: str, params: GenerationParams, on_token: Any = None,
                 cancel: threading.Event | None = None) -> Generation:
        attempt = self.attempt
        self.attempt += 1
        return self.session.generate(
            f"i{self.iteration}-k{self.sample}-a{attempt}", purpose="candidate" if attempt == 0 else "repair",
            iteration=self.iteration, sample=self.sample, attempt=attempt, prompt=prompt, params=params,
        )
