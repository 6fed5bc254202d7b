"""A llama.cpp server as a run's LLM: llama.cpp's `llama-server`, or llama-cpp-python's
`python -m llama_cpp.server`, on loopback or the user's own network (addresses: llm/server_url.py).

`ServerClient` has LLMClient's surface (start, close, count_tokens, fits, generate, n_ctx), so the
search sends the same prompts, priming, grammar, repairs, analysis turn and context trimming as
in-process, and records the same exchanges. The two servers' APIs differ:

- identify: llama-server answers GET /props (model path, chat template, per-slot n_ctx) and
  /v1/models (trained context, parameters, size); llama_cpp.server has only /v1/models, whose id is
  the model's alias or file path.
- tokens: POST /tokenize (add_special: BOS counted, as in-process) vs POST /extras/tokenize/count.
- generate: POST /completion (stream; n_predict, grammar, seed, stop, cache_prompt; the last event
  carries the token counts and timings) vs POST /v1/completions (stream; max_tokens, grammar, seed,
  stop; no counts in the stream, so the reply's tokens are counted by tokenizing it on the server).
- context size: llama_cpp.server reports none; an over-long prompt is refused with the window in
  the message before anything is evaluated, so one such request reads it.
- chat template: llama_cpp.server reports none; it is read from the served file when that path is
  readable here (a server on this machine), else the completion format is used.

Every request uses only http.client to the one given address. A server that is down, slow, answers
5xx or drops the stream is retried a bounded number of times; then LLMServerUnavailable (one line),
which the engine turns into a paused, resumable run.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesr_local.errors import EXIT_RUN_FAILED, BadInput
from lesr_local.llm.client import Generation, GenerationParams, LLMClient, LLMError, PromptTooLong
from lesr_local.llm.discovery import ModelInfo, model_name
from lesr_local.llm.gguf_meta import GGUFInfo, read_gguf
from lesr_local.llm.server_url import ServerAddress, check_llm_url

LLAMA_SERVER = "llama-server"
LLAMA_CPP_PYTHON = "llama-cpp-python"
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 300.0  # no byte for this long (a big prompt on a slow box takes a while): "slow"
RETRIES = 3  # further tries after the first failed one
BACKOFF_S = (1.0, 2.0, 4.0)
# Longer than any context a llama.cpp server is run with; tokenized by the server, never evaluated.
_CTX_PROBE_TEXT = " a" * (1 << 20)
_CTX_IN_MESSAGE = re.compile(r"(?:maximum context length is|context window of|n_ctx\D{0,4})\s*(\d+)")
# What the in-process sampler does (llm/worker.py): top-k 40, top-p, min-p 0.05, temperature; no penalties.
_TOP_K = 40
_MIN_P = 0.05


class LLMServerUnavailable(LLMError):
    """The server did not answer (down, slow, 5xx, dropped stream) after the bounded retries."""

    exit_code = EXIT_RUN_FAILED


class _Unreachable(Exception):
    """One failed try that may succeed later (retried)."""


@dataclass
class _HttpError(Exception):
    status: int
    message: str
    payload: Any = None


@dataclass
class ServerFacts:
    """What a server says about itself (and, where its model file is readable here, that file)."""

    url: str
    served_by: str
    model: str  # the server's name for its model: alias or file path
    n_ctx: int
    chat_template: str | None
    model_path: str | None = None
    parameters: int | None = None
    size_bytes: int | None = None
    context_length: int | None = None  # the trained context
    quantization: str | None = None
    architecture: str | None = None
    build: str | None = None

    def served_path(self) -> str:
        """The served model's file (or, where the server names none, its name), as ModelInfo.path."""
        return str(Path(self.model_path or self.model))

    def model_info(self) -> ModelInfo:
        shown = self.served_path()
        name = model_name(Path(shown)) if ("/" in shown or shown.lower().endswith(".gguf")) else shown
        return ModelInfo(
            name=name, path=Path(shown), size_bytes=self.size_bytes or 0, quantization=self.quantization,
            parameters=self.parameters, context_length=self.context_length or self.n_ctx,
            chat_template=self.chat_template is not None, architecture=self.architecture, default=True,
            source="server", url=self.url, served_by=self.served_by, chat_template_text=self.chat_template,
        )

    def record(self) -> dict[str, Any]:
        """The facts a run keeps in its config (config.LLMConfig.served_*)."""
        return {"served_by": self.served_by, "served_model": self.model, "served_n_ctx": self.n_ctx,
                "served_chat_template": self.chat_template is not None}


# -- HTTP --------------------------------------------------------------------------------------

class _Http:
    def __init__(self, address: ServerAddress, connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        self.address = address
        self.connect_timeout = connect_timeout

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(self.address.host, self.address.port, timeout=self.connect_timeout)
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            raise _Unreachable(_describe_os_error(exc)) from None
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def send(self, conn: http.client.HTTPConnection, method: str, path: str, body: Any | None) -> http.client.HTTPResponse:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        try:
            conn.request(method, self.address.base_path + path, body=data, headers=headers)
            return conn.getresponse()
        except TimeoutError:
            raise _Unreachable(f"sent nothing back for {conn.sock.gettimeout() if conn.sock else 0:.0f} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Unreachable(_describe_os_error(exc)) from None

    def json(self, method: str, path: str, body: Any | None = None, timeout: float = 30.0) -> tuple[int, Any]:
        conn = self.connection(timeout)
        try:
            resp = self.send(conn, method, path, body)
            try:
                raw = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                raise _Unreachable(_describe_os_error(exc)) from None
            status = resp.status
        finally:
            conn.close()
        if status in (502, 503, 504):
            raise _Unreachable(f"answered HTTP {status}{_error_suffix(raw)}")
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused the connection (is it running?)"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
        return "dropped the connection"
    if isinstance(exc, http.client.IncompleteRead):
        return "dropped the connection mid-reply"
    if isinstance(exc, TimeoutError):
        return "did not answer in time"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def _error_text(payload: Any) -> str:
    if isinstance(payload, dict):
        err = payload.get("error", payload.get("detail", payload))
        if isinstance(err, dict):
            err = err.get("message", err)
        return " ".join(str(err).split())[:300]
    return " ".join(str(payload).split())[:300]


def _error_suffix(raw: bytes) -> str:
    try:
        text = _error_text(json.loads(raw))
    except ValueError:
        text = raw.decode("utf-8", "replace").strip()[:200]
    return f": {text}" if text else ""


# -- identifying a server ----------------------------------------------------------------------

def read_server(address: ServerAddress, http_: _Http | None = None) -> ServerFacts:
    """Which server runs there and what it serves; _Unreachable when nothing answers."""
    http_ = http_ or _Http(address)
    status, props = http_.json("GET", "/props")
    if status == 200 and isinstance(props, dict) and "default_generation_settings" in props:
        return _llama_server_facts(address, http_, props)
    status, models = http_.json("GET", "/v1/models")
    counted, count = http_.json("POST", "/extras/tokenize/count", {"input": "lesr"})
    if status == 200 and counted == 200 and isinstance(count, dict) and "count" in count:
        return _llama_cpp_python_facts(address, http_, models)
    raise BadInput(f"the server at {address.url} is not a llama.cpp server (no /props, no /extras/tokenize): "
                   "lesr-local needs `llama-server` or `python -m llama_cpp.server` (grammars and token counts)")


def _local_gguf(path: str | None) -> GGUFInfo | None:
    if not path:
        return None
    try:
        return read_gguf(path) if Path(path).is_file() else None
    except (BadInput, OSError):
        return None


def _llama_server_facts(address: ServerAddress, http_: _Http, props: dict[str, Any]) -> ServerFacts:
    settings = props.get("default_generation_settings") or {}
    n_ctx = settings.get("n_ctx") or props.get("n_ctx")
    meta: dict[str, Any] = {}
    model_id = str(props.get("model_alias") or props.get("model_path") or "")
    with contextlib.suppress(_Unreachable):
        status, models = http_.json("GET", "/v1/models")
        entries = models.get("data") if status == 200 and isinstance(models, dict) else None
        if entries:
            model_id = str(entries[0].get("id") or model_id)
            meta = entries[0].get("meta") or {}
    if not n_ctx:
        n_ctx = _probe_n_ctx(address, http_, "/completion", {"prompt": _CTX_PROBE_TEXT, "n_predict": 1})
    local = _local_gguf(props.get("model_path"))
    template = props.get("chat_template") or None
    return ServerFacts(
        url=address.url, served_by=LLAMA_SERVER, model=model_id or "unknown", n_ctx=int(n_ctx),
        chat_template=str(template) if template else None, model_path=props.get("model_path"),
        parameters=_int(meta.get("n_params")) or (local.parameters if local else None),
        size_bytes=_int(meta.get("size")) or (local.size_bytes if local else None),
        context_length=_int(meta.get("n_ctx_train")) or (local.context_length if local else None),
        quantization=local.quantization if local else None, architecture=local.architecture if local else None,
        build=str(props.get("build_info")) if props.get("build_info") else None,
    )


def _llama_cpp_python_facts(address: ServerAddress, http_: _Http, models: Any) -> ServerFacts:
    entries = models.get("data") if isinstance(models, dict) else None
    if not entries:
        raise BadInput(f"the llama_cpp.server at {address.url} lists no model")
    model_id = str(entries[0].get("id"))
    n_ctx = _probe_n_ctx(address, http_, "/v1/completions", {"prompt": _CTX_PROBE_TEXT, "max_tokens": 1})
    local = _local_gguf(model_id)
    return ServerFacts(
        url=address.url, served_by=LLAMA_CPP_PYTHON, model=model_id, n_ctx=n_ctx,
        chat_template=local.chat_template if local else None, model_path=model_id if local else None,
        parameters=local.parameters if local else None, size_bytes=local.size_bytes if local else None,
        context_length=local.context_length if local else None,
        quantization=local.quantization if local else None, architecture=local.architecture if local else None,
    )


def _probe_n_ctx(address: ServerAddress, http_: _Http, path: str, body: dict[str, Any]) -> int:
    status, payload = http_.json("POST", path, body, timeout=120.0)
    match = _CTX_IN_MESSAGE.search(_error_text(payload)) if status >= 400 else None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict) and payload["error"].get("n_ctx"):
        return int(payload["error"]["n_ctx"])
    if match is None:
        raise BadInput(f"cannot read the context size of the server at {address.url} "
                       f"(HTTP {status}: {_error_text(payload)[:120]})")
    return int(match.group(1))


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def served_model(url: str, recorded: dict[str, Any] | None = None) -> tuple[ModelInfo, ServerFacts]:
    """The model a server at `url` serves, for a run (BadInput, one line, if there is none to use).

    `recorded`: the facts a run stored when it started; a resumed run refuses a server that now
    serves another model (its history was written by the first one).
    """
    address = check_llm_url(url)
    facts = _with_retries(lambda: read_server(address), address, "reading what it serves", None, None,
                          as_bad_input=True)
    if recorded and recorded.get("served_model") and recorded["served_model"] != facts.model:
        raise BadInput(f"the LLM server at {address.url} now serves {facts.model!r}, but this run was made "
                       f"with {recorded['served_model']!r}: serve that model there again to resume")
    return facts.model_info(), facts


def _with_retries(fn: Callable[[], Any], address: ServerAddress, doing: str,
                  cancel: threading.Event | None, notice: Callable[[str], None] | None,
                  retries: int = RETRIES, backoff: tuple[float, ...] = BACKOFF_S, as_bad_input: bool = False) -> Any:
    started = time.monotonic()
    failures = 0
    while True:
        try:
            return fn()
        except _Unreachable as exc:
            if cancel is not None and cancel.is_set():
                continue  # `fn` answers a set cancel itself
            failures += 1
            if failures > retries:
                spent = time.monotonic() - started
                message = (f"the LLM server at {address.url} {exc} while {doing} "
                           f"({failures} tries over {spent:.0f} s)")
                if as_bad_input:
                    raise BadInput(message) from None
                raise LLMServerUnavailable(message) from None
            wait = backoff[min(failures - 1, len(backoff) - 1)] if backoff else 0.0
            if notice is not None:
                notice(f"the LLM server at {address.url} {exc} while {doing}; trying again in {wait:.0f} s "
                       f"({failures} of {retries})")
            if cancel is not None:
                cancel.wait(wait)
            else:
                time.sleep(wait)


# -- the client --------------------------------------------------------------------------------

class ServerClient:
    """LLMClient's surface over a llama.cpp server (see the module docstring)."""

    n_threads = 0  # the server's own business
    safe_mode = False
    worker_pid = None

    def __init__(self, model: ModelInfo, n_ctx: int = 0, n_threads: int | None = None, *,
                 retries: int = RETRIES, backoff: tuple[float, ...] = BACKOFF_S,
                 read_timeout: float = READ_TIMEOUT_S) -> None:
        if model.url is None:
            raise ValueError("ServerClient needs a served model (ModelInfo.url)")
        self.model = model
        self.address = check_llm_url(model.url)
        self._http = _Http(self.address)
        self._requested_ctx = n_ctx
        self.n_ctx = n_ctx or model.context_length or 0
        self.retries = retries
        self.backoff = backoff
        self.read_timeout = read_timeout
        self.facts: ServerFacts | None = None
        self.runtime_info: dict[str, Any] = {}
        self.load_seconds: float | None = None
        self.restarts = 0  # tries repeated after the server failed
        self.on_notice: Callable[[str], None] | None = None  # one line per retry (LLMSession logs it)
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    # lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        if self.facts is not None:
            return
        started = time.perf_counter()
        facts = self._retry(lambda: read_server(self.address, self._http), "reading what it serves", None)
        self._adopt(facts)
        self.load_seconds = time.perf_counter() - started

    def _adopt(self, facts: ServerFacts) -> None:
        served = facts.served_path() if self.facts is None else self.facts.served_path()
        expected = str(self.model.path) if self.facts is None else served
        if facts.served_path() != expected:
            raise LLMError(f"the LLM server at {self.address.url} now serves {facts.model!r}, not "
                           f"{self.model.name!r}; serve that model there again")
        self.facts = facts
        self.n_ctx = min(self._requested_ctx, facts.n_ctx) if self._requested_ctx > 0 else facts.n_ctx
        self.runtime_info = {"server": facts.served_by, "url": facts.url, "model": facts.model,
                             "n_ctx": facts.n_ctx, "build": facts.build, "gpu_offload": None}

    def close(self) -> None:
        self.facts = None

    def __enter__(self) -> ServerClient:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _retry(self, fn: Callable[[], Any], doing: str, cancel: threading.Event | None) -> Any:
        return _with_retries(fn, self.address, doing, cancel, self.on_notice, self.retries, self.backoff)

    def _recheck(self) -> None:
        """After a failure: the server may have restarted, possibly with another model."""
        self._adopt(read_server(self.address, self._http))

    # tokens --------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text` (BOS included, as in-process)."""
        self.start()
        cached = self._counts.get(text)
        if cached is not None:
            return cached
        count = int(self._retry(lambda: self._count_once(text), "counting tokens", None))
        if len(self._counts) > 16:
            self._counts.clear()
        self._counts[text] = count
        return count

    def fits(self, prompt: str, max_tokens: int) -> bool:
        return self.count_tokens(prompt) + max_tokens <= self.n_ctx

    def _count_once(self, text: str) -> int:
        assert self.facts is not None
        if self.facts.served_by == LLAMA_SERVER:
            status, payload = self._http.json("POST", "/tokenize",
                                              {"content": text, "add_special": True, "parse_special": True})
            if status == 200 and isinstance(payload, dict):
                return len(payload.get("tokens") or [])
        else:
            status, payload = self._http.json("POST", "/extras/tokenize/count", {"input": text})
            if status == 200 and isinstance(payload, dict):
                return int(payload["count"])
        raise LLMError(f"token counting failed on the LLM server at {self.address.url}: HTTP {status} "
                       f"{_error_text(payload)}")

    # generation ----------------------------------------------------------------------------
    def generate(
        self, prompt: str, params: GenerationParams, on_token: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None, on_restart: Callable[[str], None] | None = None,
    ) -> Generation:
        """Stream a completion of `prompt`; a failed try is repeated with the same seed (text
        already delivered is not delivered again when the repeat reproduces it)."""
        params.validate()
        self.start()
        seed = params.seed if params.seed is not None else random.randrange(2**31)
        prompt_tokens = self.count_tokens(prompt)
        if prompt_tokens + params.max_tokens > self.n_ctx:
            raise PromptTooLong(prompt_tokens, params.max_tokens, self.n_ctx)
        delivered: list[str] = []
        tries = {"n": 0}

        def attempt() -> Generation:
            if cancel is not None and cancel.is_set():
                return Generation(text="".join(delivered), prompt_tokens=prompt_tokens, completion_tokens=0,
                                  seconds=0.0, prompt_seconds=0.0, finish_reason="cancelled")
            if tries["n"] > 0:
                self.restarts += 1
                self._recheck()
            tries["n"] += 1
            return self._stream_once(prompt, prompt_tokens, params, seed, delivered, on_token, cancel, on_restart)

        with self._lock:
            result: Generation = self._retry(attempt, "generating", cancel)
        result.seed = seed
        result.restarts = tries["n"] - 1
        return result

    def _request_body(self, prompt: str, params: GenerationParams, seed: int) -> tuple[str, dict[str, Any]]:
        assert self.facts is not None
        common: dict[str, Any] = {
            "prompt": prompt, "temperature": params.temperature, "top_p": params.top_p, "top_k": _TOP_K,
            "min_p": _MIN_P, "repeat_penalty": 1.0, "seed": seed, "stop": list(params.stop), "stream": True,
        }
        if params.grammar:
            common["grammar"] = params.grammar
        if self.facts.served_by == LLAMA_SERVER:
            return "/completion", common | {
                "n_predict": params.max_tokens, "cache_prompt": True, "samplers": ["top_k", "top_p", "min_p",
                                                                                   "temperature"],
            }
        return "/v1/completions", common | {"max_tokens": params.max_tokens}

    def _stream_once(
        self, prompt: str, prompt_tokens: int, params: GenerationParams, seed: int, delivered: list[str],
        on_token: Callable[[str], None] | None, cancel: threading.Event | None,
        on_restart: Callable[[str], None] | None,
    ) -> Generation:
        path, body = self._request_body(prompt, params, seed)
        started = time.perf_counter()
        conn = self._http.connection(self.read_timeout)
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        reader: threading.Thread | None = None
        try:
            resp = self._http.send(conn, "POST", path, body)
            if resp.status != 200:
                raw = _read_quietly(resp)
                self._raise_for(resp.status, raw, prompt_tokens, params.max_tokens)
            reader = threading.Thread(target=_read_events, args=(resp, events), daemon=True)
            reader.start()
            return self._consume(events, started, prompt, prompt_tokens, params.max_tokens, delivered, on_token,
                                 cancel, on_restart)
        finally:
            with contextlib.suppress(OSError):
                if conn.sock is not None:
                    conn.sock.shutdown(socket.SHUT_RDWR)  # a cancelled or failed stream: the server stops
            if reader is not None:
                reader.join(5.0)  # it sees the shut socket at once; close only after it let go
            conn.close()

    def _raise_for(self, status: int, raw: bytes, prompt_tokens: int, max_tokens: int) -> None:
        if status in (502, 503, 504):
            raise _Unreachable(f"answered HTTP {status}{_error_suffix(raw)}")
        try:
            payload: Any = json.loads(raw)
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        text = _error_text(payload)
        if "context" in text.lower() and _CTX_IN_MESSAGE.search(text):
            raise PromptTooLong(prompt_tokens, max_tokens, self.n_ctx)
        if "grammar" in text.lower():
            raise BadInput(f"invalid grammar: the LLM server at {self.address.url} refused it: {text}")
        raise LLMError(f"the LLM server at {self.address.url} answered HTTP {status}: {text}")

    def _consume(
        self, events: queue.Queue[tuple[str, Any]], started: float, prompt: str, prompt_tokens: int,
        max_tokens: int, delivered: list[str], on_token: Callable[[str], None] | None, cancel: threading.Event | None,
        on_restart: Callable[[str], None] | None,
    ) -> Generation:
        assert self.facts is not None
        llama_server = self.facts.served_by == LLAMA_SERVER
        already = "".join(delivered)
        replay = ""
        text = ""
        first_at: float | None = None
        last_event = time.monotonic()
        final: dict[str, Any] | None = None
        finish = ""
        while True:
            if cancel is not None and cancel.is_set():
                return Generation(text="".join(delivered), prompt_tokens=prompt_tokens, completion_tokens=0,
                                  seconds=time.perf_counter() - started, prompt_seconds=0.0,
                                  finish_reason="cancelled")
            try:
                kind, value = events.get(timeout=0.1)
            except queue.Empty:
                if time.monotonic() - last_event > self.read_timeout:
                    raise _Unreachable(f"sent nothing for {self.read_timeout:.0f} s mid-reply") from None
                continue
            last_event = time.monotonic()
            if kind == "error":
                raise _Unreachable(value)
            if kind == "end":
                break
            data = value
            if isinstance(data, dict) and "error" in data:
                message = _error_text(data)
                raise LLMError(f"the LLM server at {self.address.url} failed mid-reply: {message}")
            if llama_server:
                piece = str(data.get("content") or "")
                if data.get("stop"):
                    final = data
            else:
                choice = (data.get("choices") or [{}])[0]
                piece = str(choice.get("text") or "")
                if choice.get("finish_reason"):
                    final = data
                    finish = str(choice["finish_reason"])
            if piece:
                if first_at is None:
                    first_at = time.perf_counter()
                text += piece
                piece, already, replay = _dedupe(piece, already, replay, delivered, on_restart)
                if piece:
                    delivered.append(piece)
                    if on_token is not None:
                        on_token(piece)
            if final is not None and llama_server:
                break
        if final is None:
            raise _Unreachable("dropped the connection mid-reply")
        seconds = time.perf_counter() - started
        first_s = (first_at - started) if first_at is not None else seconds
        if llama_server:
            return _llama_server_generation(final, text, prompt_tokens, seconds, first_s)
        if finish == "length":
            completion = max_tokens  # it stops there and nowhere else (prompt + max_tokens fit n_ctx)
        else:  # the stream carries no counts: the reply's tokens as the server tokenizes it
            completion = max(0, self.count_tokens(prompt + text) - prompt_tokens) if text else 0
        return Generation(
            text=text, prompt_tokens=prompt_tokens, completion_tokens=completion, seconds=seconds,
            prompt_seconds=first_s, finish_reason="stop" if finish == "stop" else "length",
            first_token_seconds=first_s,
        )


def _llama_server_generation(final: dict[str, Any], text: str, prompt_tokens: int, seconds: float,
                             first_s: float) -> Generation:
    timings = final.get("timings") or {}
    stop_type = str(final.get("stop_type") or "")
    finish = "stop" if stop_type in ("eos", "word") or (not stop_type and final.get("stopped_eos")) else "length"
    return Generation(
        text=text, prompt_tokens=_int(final.get("tokens_evaluated")) or prompt_tokens,
        completion_tokens=_int(final.get("tokens_predicted")) or _int(timings.get("predicted_n")) or 0,
        seconds=seconds, prompt_seconds=float(timings.get("prompt_ms") or first_s * 1000) / 1000,
        finish_reason=finish, prompt_cached_tokens=_int(timings.get("cache_n")) or 0, first_token_seconds=first_s,
    )


def _dedupe(piece: str, already: str, replay: str, delivered: list[str],
            on_restart: Callable[[str], None] | None) -> tuple[str, str, str]:
    """(piece to deliver, text still expected from a repeat, repeated text so far)."""
    if not already:
        return piece, already, replay
    replay += piece
    if already.startswith(replay):
        return "", already, replay  # the repeat reproduces what the caller has
    if replay.startswith(already):
        return replay[len(already):], "", replay
    delivered.clear()
    if on_restart is not None:
        on_restart("the LLM server failed mid-reply; the text is generated again")
    return replay, "", replay


def _read_quietly(resp: http.client.HTTPResponse) -> bytes:
    try:
        return resp.read()
    except (OSError, http.client.HTTPException):
        return b""


def _read_events(resp: http.client.HTTPResponse, events: queue.Queue[tuple[str, Any]]) -> None:
    """Server-sent events to the queue: ("data", dict) per event, then ("end", None) or ("error", why)."""
    try:
        while True:
            line = resp.readline()
            if not line:
                events.put(("end", None))
                return
            line = line.strip()
            if not line or line.startswith(b":"):
                continue  # event separator or keep-alive ping
            field, _, value = line.partition(b":")
            value = value.strip()
            if field == b"data" and value == b"[DONE]":
                events.put(("end", None))
                return
            if field in (b"data", b"error"):
                try:
                    payload = json.loads(value)
                except ValueError:
                    continue
                if field == b"error" and isinstance(payload, dict) and "error" not in payload:
                    payload = {"error": payload}
                events.put(("data", payload))
    except Exception as exc:  # noqa: BLE001 - whatever broke the stream, the consumer gets one line
        events.put(("error", _describe_os_error(exc)))


def client_for(model: ModelInfo, n_ctx: int = 0) -> ServerClient | LLMClient:
    """The client a model needs: its server's, or the in-process llama.cpp worker."""
    if model.url is not None:
        return ServerClient(model, n_ctx=n_ctx)
    return LLMClient(model, n_ctx=n_ctx)
