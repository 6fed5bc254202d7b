"""--llm-url against a real `python -m llama_cpp.server` started here on 127.0.0.1 with the bundled model:
what it serves, token counts as in-process, a grammar-constrained sample, a server killed mid-reply,
a run that pauses when its server dies and resumes after a restart, and refused addresses."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from lesr_local import events as ev
from lesr_local.candidates.checks import check_candidate
from lesr_local.config import preset, with_overrides
from lesr_local.errors import BadInput, RunFailed
from lesr_local.llm.client import GenerationParams, LLMClient, PromptTooLong
from lesr_local.llm.discovery import resolve_model
from lesr_local.llm.grammar import candidate_grammar
from lesr_local.llm.server import LLAMA_CPP_PYTHON, LLMServerUnavailable, ServerClient, served_model
from lesr_local.llm.server_url import check_llm_url
from lesr_local.search.engine import SearchEngine
from lesr_local.store import Store
from tests.conftest import run_lesr
from tests.helpers_server import SERVER_N_CTX, LlamaCppServer, free_port

NETAUDIT = Path(__file__).resolve().parent / "netaudit"
PROMPT = "# Python\ndef add(a, b):\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = LlamaCppServer(tmp_path_factory.mktemp("llama-server"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def live(server: LlamaCppServer) -> LlamaCppServer:
    server.ensure_running()  # a test before may have killed it
    return server


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080", "127.0.0.1:8080", "http://localhost:8000", "http://[::1]:8080",
    "http://10.1.2.3:8080", "http://172.31.0.9:80/llama", "http://192.168.1.20:8080", "http://169.254.3.4:8080",
    "http://[fd12:3456::1]:8080", "http://[fe80::1]:8080",
])
def test_loopback_and_private_addresses_are_accepted(url: str) -> None:
    address = check_llm_url(url)
    assert address.port in (80, 8000, 8080)


@pytest.mark.parametrize(("url", "why"), [
    ("http://8.8.8.8:8080", "not on loopback"), ("http://172.32.0.1:8080", "not on loopback"),
    ("http://100.64.0.1:8080", "not on loopback"), ("http://[2001:db8::1]:8080", "not on loopback"),
    ("http://[::ffff:8.8.8.8]:80", "not on loopback"), ("http://0.0.0.0:8080", "not on loopback"),
    ("http://gpu-box.lan:8080", "not a host name"), ("https://127.0.0.1:8080", "only http://"),
    ("http://user:pw@127.0.0.1:8080", "credentials"), ("http://", "no host"),
])
def test_other_addresses_are_refused_with_one_line(url: str, why: str) -> None:
    with pytest.raises(BadInput, match=why):
        check_llm_url(url)


def test_a_public_address_is_refused_before_any_connection(tmp_path: Path, home: Path) -> None:
    log = tmp_path / "net.log"
    env = {"PYTHONPATH": os.pathsep.join([str(NETAUDIT), os.environ.get("PYTHONPATH", "")]),
           "LESR_NET_AUDIT_LOG": str(log)}
    proc = run_lesr("run", "--env", "InvertedPendulum-v5", "--preset", "smoke", "--llm-url",
                    "http://93.184.216.34:8080", "--headless", home=home, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not on loopback or a private network" in lines[0], proc.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records and all(r["event"] == "start" for r in records), records  # nothing was even tried
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


def test_a_server_that_is_down_is_one_line_and_exit_2_at_start(home: Path) -> None:
    proc = run_lesr("run", "--env", "InvertedPendulum-v5", "--preset", "smoke", "--llm-url",
                    f"http://127.0.0.1:{free_port()}", "--headless", home=home)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused the connection" in lines[0] and "tries" in lines[0], proc.stderr


def test_what_the_server_serves_is_read_from_it(live: LlamaCppServer) -> None:
    model, facts = served_model(live.url)
    assert facts.served_by == LLAMA_CPP_PYTHON and facts.n_ctx == SERVER_N_CTX
    assert Path(facts.model) == live.model and model.name == "gemma-3-270m-q4_k_m"
    assert model.source == "server" and model.url == live.url and model.chat_template is False
    assert model.parameters and model.parameters > 250_000_000 and model.quantization == "Q4_K_M"
    assert facts.record() == {"served_by": LLAMA_CPP_PYTHON, "served_model": facts.model,
                              "served_n_ctx": SERVER_N_CTX, "served_chat_template": False}


def test_token_counts_match_the_in_process_runtime(live: LlamaCppServer) -> None:
    model, _ = served_model(live.url)
    text = "import numpy as np\n\ndef revise_state(s):\n    return s  # état, ünïcode\n"
    with ServerClient(model) as remote, LLMClient(resolve_model(str(live.model)), n_ctx=512) as local:
        assert remote.count_tokens(text) == local.count_tokens(text) > 10
        assert remote.n_ctx == SERVER_N_CTX
        long_prompt = "x " * 3000
        with pytest.raises(PromptTooLong):
            remote.generate(long_prompt, GenerationParams(max_tokens=2000, seed=0))


def test_a_grammar_constrained_sample_follows_the_grammar(live: LlamaCppServer) -> None:
    model, _ = served_model(live.url)
    grammar = candidate_grammar(4, max_extra=1)  # InvertedPendulum: 4 dims, one feature (a short module)
    pieces: list[str] = []
    with ServerClient(model) as client:
        gen = client.generate("Write the module.\n```python\n", GenerationParams(
            max_tokens=160, seed=3, grammar=grammar, temperature=0.8), on_token=pieces.append)
    assert gen.finish_reason == "stop", gen  # the grammar ended the reply
    assert gen.text.startswith("import numpy as np\nimport math\n\ndef revise_state(s):\n    f1 = ")
    assert "".join(pieces) == gen.text and 0 < gen.completion_tokens < 160
    assert check_candidate(gen.text, "InvertedPendulum-v5").valid, gen.text


def test_a_server_killed_mid_reply_is_retried_then_one_line(live: LlamaCppServer) -> None:
    model, _ = served_model(live.url)
    client = ServerClient(model, retries=2, backoff=(0.2, 0.2))
    notices: list[str] = []
    client.on_notice = notices.append
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 3:
            live.kill()

    with pytest.raises(LLMServerUnavailable) as caught:
        client.generate(PROMPT, GenerationParams(max_tokens=200, seed=1), on_token=on_token)
    message = str(caught.value)
    assert "\n" not in message and live.url in message and "3 tries" in message, message
    assert len(notices) == 2 and all("trying again" in n for n in notices), notices
    assert len(pieces) >= 3
    # The same client carries on once the server is back (a restart on the same port).
    live.start()
    gen = client.generate(PROMPT, GenerationParams(max_tokens=8, seed=1))
    assert gen.finish_reason == "length" and gen.completion_tokens == 8 and gen.text


def test_a_cancel_mid_stream_returns_at_once(live: LlamaCppServer) -> None:
    model, _ = served_model(live.url)
    cancel = threading.Event()
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 2:
            cancel.set()

    with ServerClient(model) as client:
        gen = client.generate(PROMPT, GenerationParams(max_tokens=300, seed=2), on_token=on_token, cancel=cancel)
        assert gen.finish_reason == "cancelled" and len(pieces) <= 4
        after = client.generate(PROMPT, GenerationParams(max_tokens=4, seed=2))  # the server is still usable
        assert after.completion_tokens == 4


@pytest.mark.slow
def test_smoke_search_pauses_when_the_server_dies_and_resumes_after_a_restart(
        live: LlamaCppServer, home: Path) -> None:
    store = Store(home)
    killed: list[int] = []
    logs: list[str] = []

    def sink(event: ev.Event) -> None:
        if isinstance(event, ev.LLMToken) and not killed:
            killed.append(1)
            live.kill()  # mid-reply: the first candidate is being written
        if isinstance(event, ev.Log):
            logs.append(event.message)

    config = with_overrides(preset("smoke"), samples=1, iterations=1, seeds=1, **{
        "llm.url": live.url, "llm.constrain": "on"})
    with pytest.raises(RunFailed, match="paused") as caught:
        SearchEngine(store, sink).start(config)
    run_id = str(caught.value).split()[1]
    run = store.get_run(run_id)
    assert run.status == "interrupted" and "refused the connection" in (run.reason or ""), run.reason
    assert not [v for v in store.candidate_views(run_id) if v.status in ("failed", "rejected")]
    assert not [t for t in store.list_trainings(run_id) if t.status == "failed"]
    assert sum("trying again" in m for m in logs) == 3, logs
    llm = run.config["llm"]
    assert llm["url"] == live.url and llm["served_model"] == str(live.model)
    assert llm["served_n_ctx"] == SERVER_N_CTX and llm["served_chat_template"] is False

    live.start()
    summary = SearchEngine(store, lambda event: None).resume(run_id).to_dict()
    assert summary["status"] == "finished" and summary["best"]["candidate_id"] == "i0-k0", summary
    calls = store.list_llm_calls(run_id)
    first = next(c for c in calls if c.call_key == "i0-k0-a0")
    assert first.prompt_tokens > 100 and first.completion_tokens > 10 and first.reply.startswith("import numpy")
    assert store.get_run(run_id).config["llm"]["served_model"] == str(live.model)
    store.close()
