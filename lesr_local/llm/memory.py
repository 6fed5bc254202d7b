"""Estimate a model's memory need before loading it, so "too big" is a one-line error, not an OOM kill."""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from lesr_local.errors import BadInput
from lesr_local.llm.gguf_meta import GGUFInfo

MAX_DEFAULT_CTX = 8192  # n_ctx=0 means the trained context, capped here (KV cache and prompt speed)
FALLBACK_CTX = 4096  # models that do not state their trained context
# Fixed compute buffers and the Python side of llama-cpp-python; plus, per vocabulary entry, the
# output buffer llama.cpp reserves for a full batch of logits (514 MB measured for Gemma 3's 262k).
_OVERHEAD_BYTES = 160 * 1024**2
_LOGIT_ROWS = 512  # the worker's n_batch / n_ubatch
_GB = 1024**3


@dataclass
class MemoryEstimate:
    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes: int
    available_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.overhead_bytes

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.available_bytes


def effective_n_ctx(requested: int, trained: int | None) -> int:
    """0 = the trained context capped at MAX_DEFAULT_CTX; an explicit value is capped at the trained one."""
    if requested < 0:
        raise BadInput(f"n_ctx must be 0 (auto) or positive, got {requested}")
    if requested == 0:
        return min(trained or FALLBACK_CTX, MAX_DEFAULT_CTX)
    return min(requested, trained) if trained else requested


def estimate_memory(meta: GGUFInfo, n_ctx: int) -> MemoryEstimate:
    per_token = meta.kv_bytes_per_token()
    if per_token is None:
        per_token = 0
    kv = per_token * n_ctx
    vocab = meta.vocab_size or 0
    overhead = _OVERHEAD_BYTES + vocab * 4 * (_LOGIT_ROWS + 2)  # + the sampler's candidate arrays
    return MemoryEstimate(
        weights_bytes=meta.size_bytes, kv_cache_bytes=kv, overhead_bytes=overhead,
        available_bytes=int(psutil.virtual_memory().available),
    )


def check_memory(meta: GGUFInfo, n_ctx: int) -> MemoryEstimate:
    """BadInput naming the sizes when the model plus its KV cache cannot fit in free memory."""
    est = estimate_memory(meta, n_ctx)
    if not est.fits:
        raise BadInput(
            f"model {meta.path.name} needs about {est.total_bytes / _GB:.1f} GB "
            f"(weights {est.weights_bytes / _GB:.1f} GB + KV cache {est.kv_cache_bytes / _GB:.1f} GB "
            f"for n_ctx={n_ctx}) but only {est.available_bytes / _GB:.1f} GB of memory is free; "
            "choose a smaller model or a smaller context"
        )
    return est
