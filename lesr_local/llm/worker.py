"""The llama.cpp worker process: loads one model and serves tokenize / generate requests over a socket.

Runs as `python -m lesr_local.llm.worker --fd N --config JSON` so a llama.cpp abort, segfault or
out-of-memory kill cannot take the engine or the TUI down; the parent (lesr_local.llm.client)
restarts it. A plain subprocess rather than multiprocessing "spawn": spawn re-imports the parent's
__main__ module, which breaks callers whose scripts lack a main guard.

Protocol (tuples of JSON values in `sandbox.protocol` frames over a socket, no pickle):
  parent -> worker: ("tokenize", text) | ("generate", request dict) | ("cancel",) | ("close",)
  worker -> parent: ("ready", info) | ("tokens", n) | ("token", piece) | ("done", result dict)
                    | ("error", kind, message)      kind: load | too_long | grammar | oom | internal

This module is imported in the parent too (for WorkerConfig), so llama_cpp is imported lazily.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import ctypes
import json
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from typing import Any

from lesr_local.sandbox.protocol import Channel

DEFAULT_N_BATCH = 512


@dataclass
class WorkerConfig:
    model_path: str
    n_ctx: int
    n_threads: int
    safe_mode: bool = False  # no extra CPU buffer types (AMX / repacked weights); see _load
    n_batch: int = DEFAULT_N_BATCH


def worker_main(conn: Channel, config_dict: dict[str, Any]) -> None:
    """Serve requests until the parent closes the connection (stdout/stderr already go to the log)."""
    config = WorkerConfig(**config_dict)
    print(f"--- llm worker pid {os.getpid()} {time.strftime('%Y-%m-%d %H:%M:%S')}", file=sys.stderr, flush=True)
    # OpenMP threads that spin while waiting are disastrous when the cores are shared (TD3 workers
    # run beside us): measured 1.3 tok/s instead of 14 on 2 busy cores. Must be set before the
    # OpenMP runtime loads, i.e. before importing llama_cpp.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        server = _Server(conn, config)
    except MemoryError:
        _send(conn, ("error", "oom", "out of memory while loading the model"))
        return
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        _send(conn, ("error", "load", _one_line(exc)))
        return
    server.serve()


def _send(conn: Channel, message: tuple[Any, ...]) -> None:
    with contextlib.suppress(OSError, EOFError):
        conn.send(message)


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:400]


class _Server:
    def __init__(self, conn: Channel, config: WorkerConfig) -> None:
        self.conn = conn
        self.config = config
        started = time.perf_counter()
        self.llm, self.gpu = _load(config)
        import llama_cpp

        self.lc = llama_cpp
        self.vocab = self.llm._model.vocab
        self.n_vocab = int(self.llm.n_vocab())
        self._grammar_cache: dict[str, bool] = {}
        info = {
            "n_ctx": int(self.llm.n_ctx()),
            "load_seconds": time.perf_counter() - started,
            "gpu_offload": self.gpu,
            "n_threads": config.n_threads,
            "safe_mode": config.safe_mode,
            "llama_cpp_version": getattr(llama_cpp, "__version__", "unknown"),
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
            "pid": os.getpid(),
        }
        conn.send(("ready", info))

    def serve(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                return  # the parent went away
            kind = message[0]
            if kind == "close":
                return
            try:
                if kind == "tokenize":
                    self.conn.send(("tokens", len(self._tokenize(message[1]))))
                elif kind == "generate":
                    self._generate(message[1])
                # a stray "cancel" after a generation finished is ignored
            except MemoryError:
                _send(self.conn, ("error", "oom", "out of memory during generation"))
            except Exception as exc:  # noqa: BLE001 - one line to the parent, details to the log
                traceback.print_exc()
                _send(self.conn, ("error", "internal", _one_line(exc)))

    def _tokenize(self, text: str) -> list[int]:
        # special=True: chat templates carry control tokens (<start_of_turn> etc.) as text.
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    # generation ---------------------------------------------------------------------------
    def _generate(self, req: dict[str, Any]) -> None:
        lc = self.lc
        llm = self.llm
        prompt_tokens = self._tokenize(req["prompt"])
        n_ctx = int(llm.n_ctx())
        max_tokens = int(req["max_tokens"])
        if len(prompt_tokens) + max_tokens > n_ctx:
            self.conn.send(("error", "too_long", {"prompt_tokens": len(prompt_tokens)}))
            return
        grammar_ptr = None
        if req.get("grammar"):
            grammar_ptr = lc.llama_sampler_init_grammar(self.vocab, req["grammar"].encode("utf-8"), b"root")
            if not grammar_ptr:
                self.conn.send(("error", "grammar", "the GBNF grammar does not parse (see the worker log)"))
                return
        chain = self._make_chain(float(req["temperature"]), float(req["top_p"]), int(req["seed"]))
        try:
            self._run(req, prompt_tokens, chain, grammar_ptr, max_tokens, n_ctx)
        finally:
            lc.llama_sampler_free(chain)
            if grammar_ptr:
                lc.llama_sampler_free(grammar_ptr)

    def _make_chain(self, temperature: float, top_p: float, seed: int) -> Any:
        lc = self.lc
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        if temperature <= 0.0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
            return chain
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_k(40))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_p(top_p, 1))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_min_p(0.05, 1))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(temperature))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        return chain

    def _prefill(self, prompt_tokens: list[int]) -> int:
        """Evaluate the prompt, reusing the KV cache of the longest shared prefix; returns reused count.

        The last prompt token is always evaluated on its own, so a cached and an uncached run of the
        same prompt compute the first sampled logits identically (seeds reproduce exactly).
        """
        llm = self.llm
        cached = llm.input_ids[: llm.n_tokens]
        keep = 0
        limit = min(len(cached), len(prompt_tokens) - 1)
        while keep < limit and cached[keep] == prompt_tokens[keep]:
            keep += 1
        if keep > 0 and not llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            keep = 0  # this cache type cannot drop a suffix: start over
        if keep == 0:
            llm._ctx.kv_cache_clear()
        llm.n_tokens = keep
        body = prompt_tokens[keep:-1]
        if body:
            llm.eval(body)
        llm.eval(prompt_tokens[-1:])
        return keep

    def _run(
        self, req: dict[str, Any], prompt_tokens: list[int], chain: Any, grammar: Any, max_tokens: int,
        n_ctx: int,
    ) -> None:
        lc = self.lc
        llm = self.llm
        started = time.perf_counter()
        reused = self._prefill(prompt_tokens)
        prompt_seconds = time.perf_counter() - started
        stops: list[str] = [s for s in req.get("stop") or [] if s]
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text = ""
        emitted = 0
        completion = 0
        finish = "length"
        first_token_at: float | None = None
        piece_buf = ctypes.create_string_buffer(256)
        full = _FullVocab(self.n_vocab) if grammar else None
        self._fallbacks = 0
        sample_seconds = 0.0
        while completion < max_tokens:
            if self.conn.poll():
                msg = self.conn.recv()
                if msg[0] == "cancel":
                    finish = "cancelled"
                    break
                if msg[0] == "close":
                    sys.exit(0)
            t_sample = time.perf_counter()
            token = lc.llama_sampler_sample(chain, llm._ctx.ctx, -1)
            if grammar:
                token = self._constrain(token, chain, grammar, full)
                lc.llama_sampler_accept(grammar, token)
            sample_seconds += time.perf_counter() - t_sample
            if lc.llama_vocab_is_eog(self.vocab, token):
                finish = "stop"
                break
            completion += 1
            n = lc.llama_token_to_piece(self.vocab, token, piece_buf, len(piece_buf), 0, False)
            text += decoder.decode(piece_buf.raw[: max(n, 0)])
            if first_token_at is None:
                first_token_at = time.perf_counter()
            cut = _find_stop(text, stops, emitted)
            if cut is not None:
                text = text[:cut]
                if cut > emitted:
                    self.conn.send(("token", text[emitted:cut]))
                emitted = cut
                finish = "stop"
                break
            safe = len(text) - _held_back(text, stops)
            if safe > emitted:
                self.conn.send(("token", text[emitted:safe]))
                emitted = safe
            if llm.n_tokens + 1 >= n_ctx:
                break  # context full: "length"
            llm.eval([token])
        if finish != "stop":
            text += decoder.decode(b"", final=True)
        if len(text) > emitted:
            self.conn.send(("token", text[emitted:]))
        seconds = time.perf_counter() - started
        self.conn.send(("done", {
            "text": text, "prompt_tokens": len(prompt_tokens), "completion_tokens": completion,
            "seconds": seconds, "prompt_seconds": prompt_seconds, "finish_reason": finish,
            "prompt_cached_tokens": reused,
            "first_token_seconds": (first_token_at - started) if first_token_at else seconds,
            "sample_seconds": sample_seconds, "grammar_fallbacks": self._fallbacks,
        }))

    def _constrain(self, token: int, chain: Any, grammar: Any, full: _FullVocab) -> int:
        """Grammar-first check, then a filtered resample.

        Applying a grammar to all 262k tokens costs ~80 ms per token here (it halved the speed).
        Usually the unconstrained pick is allowed, so that one token is checked first. When it is
        rejected, the grammar filters the model's top candidates only (a few ms; tokens outside
        them have negligible probability after top-k anyway), and the whole vocabulary only when
        none of those is allowed.
        """
        lc = self.lc
        single = (lc.llama_token_data * 1)(lc.llama_token_data(token, 1.0, 0.0))
        arr = lc.llama_token_data_array(single, 1, -1, False)
        lc.llama_sampler_apply(grammar, ctypes.byref(arr))
        if single[0].logit != float("-inf"):
            return token
        self._fallbacks += 1
        logits_ptr = lc.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        for load in (full.load_top, full.load):  # lazily: each load replaces the current buffer
            arr = load(lc, logits_ptr)
            lc.llama_sampler_apply(grammar, ctypes.byref(arr))
            if not full.any_allowed(arr):
                continue
            lc.llama_sampler_apply(chain, ctypes.byref(arr))
            if arr.selected >= 0:
                return int(arr.data[arr.selected].id)
        raise RuntimeError("the grammar rejected every token")


class _FullVocab:
    """Reusable llama_token_data arrays (numpy-backed): the top candidates, or the whole vocabulary."""

    TOP = 2048

    def __init__(self, n_vocab: int) -> None:
        import numpy as np

        self.np = np
        self.n_vocab = n_vocab
        dtype = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
        self.data = np.zeros(n_vocab, dtype=dtype)
        self.top = np.zeros(min(self.TOP, n_vocab), dtype=dtype)
        self.ids = np.arange(n_vocab, dtype=np.int32)
        self._current = self.data

    def _logits(self, logits_ptr: Any) -> Any:
        return self.np.ctypeslib.as_array(logits_ptr, shape=(self.n_vocab,))

    def _array(self, lc: Any, buf: Any) -> Any:
        self._current = buf
        ptr = buf.ctypes.data_as(lc.llama_token_data_p)
        return lc.llama_token_data_array(ptr, len(buf), -1, False)

    def load_top(self, lc: Any, logits_ptr: Any) -> Any:
        logits = self._logits(logits_ptr)
        idx = self.np.argpartition(logits, -len(self.top))[-len(self.top):]
        self.top["id"] = idx
        self.top["logit"] = logits[idx]
        self.top["p"] = 0.0
        return self._array(lc, self.top)

    def load(self, lc: Any, logits_ptr: Any) -> Any:
        self.data["id"] = self.ids
        self.data["logit"] = self._logits(logits_ptr)
        self.data["p"] = 0.0
        return self._array(lc, self.data)

    def any_allowed(self, arr: Any) -> bool:
        # Samplers may shrink `size`; the grammar marks rejected tokens with -inf.
        view = self._current[: int(arr.size)]
        return bool(self.np.isfinite(view["logit"]).any())


def _find_stop(text: str, stops: list[str], emitted: int) -> int | None:
    """Index where the earliest stop string starts (searching only what could newly contain one)."""
    best: int | None = None
    for stop in stops:
        idx = text.find(stop, max(0, emitted - len(stop)))
        if idx != -1 and (best is None or idx < best):
            best = idx
    return best


def _held_back(text: str, stops: list[str]) -> int:
    """Length of the longest tail of `text` that could still grow into a stop string."""
    longest = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:k]):
                longest = max(longest, k)
                break
    return longest


def _load(config: WorkerConfig) -> tuple[Any, bool]:
    import llama_cpp
    import llama_cpp.llama as llama_module

    gpu = bool(llama_cpp.llama_supports_gpu_offload())
    kwargs: dict[str, Any] = {
        "n_ctx": config.n_ctx, "n_batch": config.n_batch, "n_ubatch": config.n_batch,
        "n_threads": config.n_threads, "n_threads_batch": config.n_threads,
        "n_gpu_layers": -1 if gpu else 0,
        "swa_full": True,  # sliding-window layers keep every position, so a prefix can be reused
        "verbose": False,
    }
    if not config.safe_mode:
        return llama_cpp.Llama(config.model_path, **kwargs), gpu
    # Safe mode: some llama.cpp CPU builds crash in their AMX / repacked-weight kernels (seen here:
    # SIGSEGV in ggml_backend_amx_mul_mat under a VM). Llama() builds its model params internally
    # without exposing use_extra_bufts, so wrap the defaults factory for the duration of the load.
    original = llama_module.llama_cpp.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    llama_module.llama_cpp.llama_model_default_params = without_extra_buffers
    try:
        return llama_cpp.Llama(config.model_path, **kwargs), gpu
    finally:
        llama_module.llama_cpp.llama_model_default_params = original


def config_dict(config: WorkerConfig) -> dict[str, Any]:
    return asdict(config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lesr_local.llm.worker")
    parser.add_argument("--fd", type=int, required=True, help="inherited socket to the parent")
    parser.add_argument("--config", required=True, help="WorkerConfig as JSON")
    args = parser.parse_args(argv)
    conn = Channel(args.fd)
    try:
        worker_main(conn, json.loads(args.config))
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
