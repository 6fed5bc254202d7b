"""A chat model whose template is missing or broken (tiny GGUFs written with the real `gguf` package).

Documented behaviour (docs/models.md, llm/prompting.py): no template -> the completion format; a template that
does not parse, cannot render a system + user exchange, or drops the messages -> one line, exit 2,
before a run is created.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lesr_local.errors import BadInput
from lesr_local.llm.discovery import load_model_info
from lesr_local.llm.prompting import CODE_FENCE, check_chat_template, render_prompt
from tests.conftest import run_lesr
from tests.helpers_llm import write_tiny_gguf

BROKEN = {
    "does not parse": "{% for m in messages %}{{ m['content'] }",
    "cannot render a prompt": "{{ raise_exception('this template refuses every conversation') }}",
    "without the user message": "{% if add_generation_prompt %}<|assistant|>{% endif %}",
}


def test_missing_template_gets_the_completion_format(tmp_path: Path) -> None:
    model = load_model_info(write_tiny_gguf(tmp_path / "no-template.gguf"))
    assert model.chat_template is False
    check_chat_template(model)  # no template is fine
    prompt = render_prompt(model, "SYSTEM", "USER", CODE_FENCE)
    assert prompt == "SYSTEM\n\n## Task\n\nUSER\n\n## Solution\n\n" + CODE_FENCE


@pytest.mark.parametrize("fragment", sorted(BROKEN))
def test_broken_template_is_one_clear_line(tmp_path: Path, fragment: str) -> None:
    model = load_model_info(write_tiny_gguf(tmp_path / "broken.gguf", chat_template=BROKEN[fragment]))
    assert model.chat_template is True
    with pytest.raises(BadInput) as caught:
        check_chat_template(model)
    message = str(caught.value)
    assert message.startswith("broken: ") and fragment in message and "\n" not in message


def test_run_with_a_broken_template_fails_before_the_run_exists(tmp_path: Path, home: Path) -> None:
    path = write_tiny_gguf(tmp_path / "broken.gguf", chat_template=BROKEN["does not parse"])
    proc = run_lesr("run", "--env", "InvertedPendulum-v5", "--preset", "smoke", "--model", str(path),
                    "--headless", "--json", home=home, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "chat template does not parse" in lines[0] and "Traceback" not in proc.stderr
    history = run_lesr("history", "--json", home=home, timeout=60)
    assert history.returncode == 0 and json.loads(history.stdout) == []


def test_bench_with_a_broken_template_is_bad_input(tmp_path: Path, home: Path) -> None:
    path = write_tiny_gguf(tmp_path / "broken.gguf", chat_template=BROKEN["without the user message"])
    proc = run_lesr("bench", "llm", "--model", str(path), "--samples", "1", "--json", home=home, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "without the user message" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
