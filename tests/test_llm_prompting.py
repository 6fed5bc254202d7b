"""Prompt formatting: base-model completion layout and chat templates read from the GGUF."""

from __future__ import annotations

from pathlib import Path

from lesr_local.llm.discovery import load_model_info, resolve_model
from lesr_local.llm.prompting import CODE_FENCE, render_prompt
from tests.helpers_llm import write_tiny_gguf

SIMPLE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
          "{% if add_generation_prompt %}<|assistant|>{% endif %}")
NO_SYSTEM = ("{% for m in messages %}{% if m['role'] == 'system' %}"
             "{{ raise_exception('System role not supported') }}{% endif %}"
             "<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}"
             "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")


def test_base_model_completion_layout_primes_the_code() -> None:
    model = resolve_model(None)  # the bundled default has no chat template
    prompt = render_prompt(model, "SYSTEM TEXT", "USER TEXT", CODE_FENCE)
    assert prompt.startswith("SYSTEM TEXT") and "USER TEXT" in prompt
    assert prompt.endswith("## Solution\n\n" + CODE_FENCE)


def test_chat_template_from_the_gguf(tmp_path: Path) -> None:
    model = load_model_info(write_tiny_gguf(tmp_path / "chat.gguf", chat_template=SIMPLE))
    prompt = render_prompt(model, "be brief", "hello", "Sure:")
    assert prompt == "<|system|>be brief\n<|user|>hello\n<|assistant|>Sure:"


def test_template_without_a_system_role_gets_it_folded_into_the_user_turn(tmp_path: Path) -> None:
    model = load_model_info(write_tiny_gguf(tmp_path / "gemma-like.gguf", chat_template=NO_SYSTEM))
    prompt = render_prompt(model, "be brief", "hello")
    assert prompt == "<start_of_turn>user\nbe brief\n\nhello<end_of_turn>\n<start_of_turn>model\n"
