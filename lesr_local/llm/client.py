"""LLMClient: the engine-side handle on the llama.cpp worker process.

generate() streams token text to `on_token` in the caller's thread, can be cancelled with a
threading.Event, and survives one worker death (llama.cpp abort, segfault, OOM kill): the worker is
restarted and the request re-run once; a second death raises LLMError with a one-line reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from lesr_local.errors import BadInput, LesrError
from lesr_local.llm.discovery import ModelInfo
from lesr_local.llm.gguf_meta import read_gguf
from lesr_local.llm.memory import check_memory, effective_n_ctx
from lesr_local.llm.worker import WorkerConfig, config_dict
from lesr_local.sandbox.protocol import Channel
from lesr_local.workspace import PROJECT_ROOT, user_cache_dir

LOAD_TIMEOUT_S = 600.0  # big models on slow disks; a dead worker is noticed at once anyway
CANCEL_GRACE_S = 3.0  # after this the worker is killed (e.g. stuck in a long prompt evaluation)
_FAULT_SIGNALS = {signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGABRT, signal.SIGFPE}
_LOG_LIMIT = 5 * 1024**2
SAFE_MODE_ENV = "LESR_LLAMA_SAFE"  # 1 = never use extra CPU buffer types, 0 = always use them


class LLMError(LesrError):
    """The worker crashed twice or aborted; the message is one line."""


class PromptTooLong(BadInput):
    """The prompt plus max_tokens does not fit the context window."""

    def __init__(self, prompt_tokens: int, max_tokens: int, n_ctx: int) -> None:
        super().__init__(
            f"prompt too long: {prompt_tokens} prompt tokens + max_tokens {max_tokens} exceed the "
            f"context window n_ctx={n_ctx}"
        )
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.n_ctx = n_ctx


@dataclass
class GenerationParams:
    max_tokens: int = 512
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    grammar: str | None = None  # GBNF text

    def validate(self) -> None:
        if self.max_tokens < 1:
            raise BadInput(f"max_tokens must be at least 1, got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 5.0:
            raise BadInput(f"temperature must be within [0, 5], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise BadInput(f"top_p must be within (0, 1], got {self.top_p}")


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float  # wall time in the worker, prompt evaluation included
    prompt_seconds: float
    finish_reason: str  # "stop" | "length" | "cancelled"
    prompt_cached_tokens: int = 0  # prompt tokens whose KV cache was reused from the previous call
    first_token_seconds: float = 0.0
    seed: int = 0  # the seed actually used (a random one when params.seed was None)
    restarts: int = 0  # worker restarts this call needed (0 or 1)
    sample_seconds: float = 0.0  # time spent choosing tokens (grammar included), not evaluating
    grammar_fallbacks: int = 0  # tokens where the grammar rejected the model's pick


class _Process:
    """The worker subprocess, with the few methods the client needs."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.popen.kill()

    def join(self, timeout: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout)


@dataclass
class _Worker:
    process: _Process
    conn: Channel
    info: dict[str, Any]


class _WorkerDied(Exception):
    def __init__(self, reason: str, fault: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fault = fault  # died of a native fault signal (not killed from outside)


def physical_cores() -> int:
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def _package_root() -> Path:
    # The worker runs `-m lesr_local.llm.worker`: start it where this very package is importable.
    return PROJECT_ROOT


def worker_log_path() -> Path:
    return user_cache_dir() / "logs" / "llm-worker.log"


def _runtime_marker() -> Path:
    return user_cache_dir() / "llama-runtime.json"


def _runtime_key() -> str:
    # The safe-mode verdict belongs to this llama.cpp build on this CPU.
    try:
        from importlib.metadata import version

        llama_version = version("llama-cpp-python")
    except Exception:  # noqa: BLE001 - metadata missing: still a usable key
        llama_version = "unknown"
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{llama_version}|{cpu}"


def _safe_mode_forced() -> bool:
    return os.environ.get(SAFE_MODE_ENV) in ("0", "1")


def _safe_mode_default() -> bool:
    forced = os.environ.get(SAFE_MODE_ENV)
    if forced in ("0", "1"):
        return forced == "1"
    try:
        data = json.loads(_runtime_marker().read_text())
        return bool(data.get("key") == _runtime_key() and data.get("safe_mode"))
    except (OSError, ValueError):
        return False


def _remember_safe_mode() -> None:
    marker = _runtime_marker()
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(marker.name + ".tmp")
        tmp.write_text(json.dumps({"key": _runtime_key(), "safe_mode": True}))
        os.replace(tmp, marker)
    except OSError:
        pass  # not fatal: the next start learns it again


class LLMClient:
    """Owns one worker process running llama-cpp-python; use as a context manager or call close()."""

    def __init__(self, model: ModelInfo, n_ctx: int = 0, n_threads: int | None = None) -> None:
        self.model = model
        self._requested_ctx = n_ctx
        self.n_ctx = effective_n_ctx(n_ctx, model.context_length)
        self.n_threads = n_threads or physical_cores()
        self.safe_mode = _safe_mode_default()
        self._worker: _Worker | None = None
        self._lock = threading.Lock()  # one request at a time over the pipe
        self.load_seconds: float | None = None
        self.runtime_info: dict[str, Any] = {}
        self.restarts = 0

    # lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Load the model in a fresh worker; BadInput if it cannot fit in free memory."""
        if self._worker is not None:
            return
        meta = read_gguf(self.model.path)
        check_memory(meta, self.n_ctx)
        self._worker = self._spawn()

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        with contextlib.suppress(OSError, EOFError, BrokenPipeError):
            worker.conn.send(("close",))
        worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=5)
        worker.conn.close()

    def __enter__(self) -> LLMClient:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()

    @property
    def worker_pid(self) -> int | None:
        return self._worker.process.pid if self._worker else None

    def _spawn(self) -> _Worker:
        parent_sock, child_sock = socket.socketpair()
        config = WorkerConfig(
            model_path=str(self.model.path), n_ctx=self.n_ctx, n_threads=self.n_threads,
            safe_mode=self.safe_mode,
        )
        log_path = worker_log_path()
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            if log_path.exists() and log_path.stat().st_size > _LOG_LIMIT:
                os.replace(log_path, log_path.with_name(log_path.name + ".1"))  # keep one old log
            log = log_path.open("ab")
        except OSError:
            log = open(os.devnull, "wb")  # noqa: SIM115 - closed below, after Popen dups it
        started = time.perf_counter()
        try:
            popen = subprocess.Popen(
                [sys.executable, "-m", "lesr_local.llm.worker", "--fd", str(child_sock.fileno()),
                 "--config", json.dumps(config_dict(config))],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(child_sock.fileno(),),
                cwd=str(_package_root()),
                # Own session: Ctrl-C in the terminal is the parent's to handle, not the worker's.
                start_new_session=True,
            )
        finally:
            log.close()
            child_sock.close()
        process = _Process(popen)
        parent_conn = Channel(parent_sock.detach())
        try:
            message = self._await(parent_conn, process, LOAD_TIMEOUT_S, "loading the model")
        except _WorkerDied as died:
            parent_conn.close()
            raise LLMError(f"llama.cpp could not load {self.model.name}: {died.reason}") from None
        if message[0] == "error":
            process.join(timeout=5)
            parent_conn.close()
            kind, text = message[1], message[2]
            if kind == "oom":
                raise BadInput(f"not enough memory to load {self.model.name}: {text}")
            raise BadInput(f"llama.cpp could not load {self.model.path}: {text}")
        info = dict(message[1])
        self.runtime_info = info
        self.n_ctx = int(info.get("n_ctx", self.n_ctx))
        self.load_seconds = time.perf_counter() - started
        return _Worker(process=process, conn=parent_conn, info=info)

    def _await(self, conn: Channel, process: Any, timeout: float, doing: str) -> tuple[Any, ...]:
        """Next message from the worker; _WorkerDied if it dies (or goes silent past `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if conn.poll(0.1):
                    return conn.recv()
            except (EOFError, OSError):
                break
            if not process.is_alive():
                # It may have sent its last words just before exiting.
                try:
                    if conn.poll(0):
                        return conn.recv()
                except (EOFError, OSError):
                    pass
                break
            if time.monotonic() > deadline:
                process.kill()
                process.join(timeout=5)
                raise _WorkerDied(f"no answer after {timeout:.0f} s while {doing}", fault=False)
        process.join(timeout=5)
        raise self._death(process)

    def _death(self, process: Any) -> _WorkerDied:
        code = process.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            fault = -code in {int(s) for s in _FAULT_SIGNALS}
            what = "was killed (out of memory?)" if -code == signal.SIGKILL else f"crashed ({name})"
        else:
            fault = False
            what = f"exited unexpectedly (status {code})"
        hint = _last_log_error(worker_log_path())
        return _WorkerDied(f"the llama.cpp worker {what}" + (f": {hint}" if hint else ""), fault=fault)

    def _restart(self, died: _WorkerDied) -> None:
        old, self._worker = self._worker, None
        if old is not None:
            old.conn.close()
            if old.process.is_alive():
                old.process.kill()
            old.process.join(timeout=5)
        if died.fault and not self.safe_mode and not _safe_mode_forced():
            # Native faults in the CPU kernels are often the AMX / repack paths; retry without them.
            self.safe_mode = True
        self.restarts += 1
        self._worker = self._spawn()

    # requests -------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text` (BOS included)."""
        return int(self._with_retry(lambda w: self._request_tokens(w, text), None)[0])

    def fits(self, prompt: str, max_tokens: int) -> bool:
        """Whether `prompt` plus `max_tokens` fits the context window (for prompt shrinking rules)."""
        return self.count_tokens(prompt) + max_tokens <= self.n_ctx

    def _request_tokens(self, worker: _Worker, text: str) -> int:
        worker.conn.send(("tokenize", text))
        message = self._await(worker.conn, worker.process, LOAD_TIMEOUT_S, "counting tokens")
        if message[0] == "error":
            raise LLMError(f"token counting failed: {message[2]}")
        return int(message[1])

    def generate(
        self, prompt: str, params: GenerationParams,
        on_token: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        on_restart: Callable[[str], None] | None = None,
    ) -> Generation:
        """Generate a completion of `prompt` (already rendered with render_prompt).

        on_token gets text pieces in this thread. After a worker restart the request is re-run with
        the same seed; text already delivered is not delivered again when the re-run reproduces it,
        otherwise on_restart(reason) is called first so a live view can clear itself.
        Generation.text is always the authoritative full text.
        """
        params.validate()
        seed = params.seed if params.seed is not None else random.randrange(2**31)
        request = {
            "prompt": prompt, "max_tokens": params.max_tokens, "temperature": params.temperature,
            "top_p": params.top_p, "seed": seed, "stop": list(params.stop), "grammar": params.grammar,
        }
        delivered: list[str] = []  # pieces already given to on_token (across a restart)

        def attempt(worker: _Worker) -> Generation:
            return self._request_generate(worker, request, delivered, on_token, cancel, on_restart)

        try:
            result, restarts = self._with_retry(attempt, cancel)
        except _Cancelled:
            # The worker died while a cancel was pending: that is a cancellation, not a failure.
            return Generation(text="".join(delivered), prompt_tokens=0, completion_tokens=0, seconds=0.0,
                              prompt_seconds=0.0, finish_reason="cancelled", seed=seed)
        result.seed = seed
        result.restarts = restarts
        return result

    def _with_retry(self, fn: Callable[[_Worker], Any], cancel: threading.Event | None) -> tuple[Any, int]:
        with self._lock:
            if self._worker is None:
                self.start()
            restarts = 0
            while True:
                assert self._worker is not None
                try:
                    value = fn(self._worker)
                    if restarts and self.safe_mode and not _safe_mode_forced() and not _safe_mode_default():
                        _remember_safe_mode()  # the safe retry worked: start safe next time
                    return value, restarts
                except _WorkerDied as died:
                    if cancel is not None and cancel.is_set():
                        self._drop_worker()
                        raise _Cancelled from None
                    if restarts >= 1:
                        self._drop_worker()
                        raise LLMError(f"{died.reason} (again after one restart)") from None
                    restarts += 1
                    self._restart(died)

    def _drop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            if worker.process.is_alive():
                worker.process.kill()
            worker.process.join(timeout=5)
            worker.conn.close()

    def _request_generate(
        self, worker: _Worker, request: dict[str, Any], delivered: list[str],
        on_token: Callable[[str], None] | None, cancel: threading.Event | None,
        on_restart: Callable[[str], None] | None,
    ) -> Generation:
        worker.conn.send(("generate", request))
        already = "".join(delivered)
        replay = ""  # text of this attempt that repeats what was delivered before a restart
        cancel_sent_at: float | None = None
        while True:
            if cancel is not None and cancel.is_set() and cancel_sent_at is None:
                cancel_sent_at = time.monotonic()
                with contextlib.suppress(OSError, EOFError):
                    worker.conn.send(("cancel",))
            if cancel_sent_at is not None and time.monotonic() - cancel_sent_at > CANCEL_GRACE_S:
                # Stuck in one long llama.cpp call (prompt evaluation): kill; restart on next use.
                self._drop_worker()
                text = "".join(delivered)
                return Generation(text=text, prompt_tokens=0, completion_tokens=0, seconds=0.0,
                                  prompt_seconds=0.0, finish_reason="cancelled")
            message = self._poll(worker)
            if message is None:
                continue
            kind = message[0]
            if kind == "token":
                piece = message[1]
                if already:
                    replay += piece
                    if already.startswith(replay):
                        continue  # the re-run is reproducing text the caller already has
                    if replay.startswith(already):
                        piece = replay[len(already):]
                        already = ""
                    else:
                        already = ""
                        delivered.clear()
                        if on_restart is not None:
                            on_restart("the LLM worker restarted; the text is generated again")
                        piece = replay
                delivered.append(piece)
                if on_token is not None:
                    on_token(piece)
            elif kind == "done":
                d = message[1]
                return Generation(
                    text=d["text"], prompt_tokens=d["prompt_tokens"], completion_tokens=d["completion_tokens"],
                    seconds=d["seconds"], prompt_seconds=d["prompt_seconds"], finish_reason=d["finish_reason"],
                    prompt_cached_tokens=d.get("prompt_cached_tokens", 0),
                    first_token_seconds=d.get("first_token_seconds", 0.0),
                    sample_seconds=d.get("sample_seconds", 0.0), grammar_fallbacks=d.get("grammar_fallbacks", 0),
                )
            elif kind == "error":
                err_kind, detail = message[1], message[2]
                if err_kind == "too_long":
                    raise PromptTooLong(int(detail["prompt_tokens"]), int(request["max_tokens"]), self.n_ctx)
                if err_kind == "grammar":
                    raise BadInput(f"invalid grammar: {detail}")
                if err_kind == "oom":
                    # Counts as a death: the worker's memory may be in a bad state; restart it.
                    worker.process.kill()
                    worker.process.join(timeout=5)
                    raise _WorkerDied(f"the llama.cpp worker ran out of memory: {detail}", fault=False)
                raise LLMError(f"generation failed: {detail}")

    def _poll(self, worker: _Worker) -> tuple[Any, ...] | None:
        try:
            if worker.conn.poll(0.05):
                return worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(timeout=5)
            raise self._death(worker.process) from None
        if not worker.process.is_alive():
            try:
                if worker.conn.poll(0):
                    return worker.conn.recv()
            except (EOFError, OSError):
                pass
            worker.process.join(timeout=5)
            raise self._death(worker.process)
        return None


class _Cancelled(Exception):
    pass


def _last_log_error(path: Path) -> str | None:
    """The last line of the worker log that looks like an error (GGML_ASSERT, 'error', 'failed')."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            tail = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(tail):
        if line.startswith("--- llm worker pid"):
            return None  # only look at the latest worker's output
        low = line.lower()
        if "ggml_assert" in low or "error" in low or "failed" in low or "abort" in low:
            return " ".join(line.split())[:200]
    return None
