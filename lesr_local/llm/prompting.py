"""Turn (system, user, assistant prefix) into the text the model completes.

Chat models: their own chat template (jinja, from the GGUF's tokenizer.chat_template), rendered in a
sandbox; a template that does not parse, cannot render or drops the messages is a one-line BadInput
(`check_chat_template`, called before a run starts). A GGUF without a template gets the completion format. Base models (no template; the default model is one): a plain document layout whose last
line is the assistant prefix, e.g. "```python\\n", so the next tokens the model writes are code.
"""

from __future__ import annotations

import functools
from pathlib import Path

from lesr_local.errors import BadInput
from lesr_local.llm.discovery import ModelInfo
from lesr_local.llm.gguf_meta import read_gguf

CODE_FENCE = "```python\n"
# Ends an unconstrained code reply at its closing fence: a bare "```" line. Not "```" alone: a chat
# model may answer the primed prompt by opening its own "```python" block, and stopping there leaves
# an empty reply.
CODE_STOP = ["```\n"]

# Base-model layout: headings a code-trained base model has seen countless times in READMEs and
# notebooks; the reply section starts with the prefix.
_BASE_LAYOUT = "{system}\n\n## Task\n\n{user}\n\n## Solution\n\n{prefix}"


def render_prompt(model: ModelInfo, system: str, user: str, assistant_prefix: str = "") -> str:
    """The full prompt text; the model's reply continues right after `assistant_prefix`."""
    if model.chat_template:
        template = model.chat_template_text  # a served model: the template its server reports
        if template is None:
            template = _chat_template(model.path, model.path.stat().st_mtime_ns if model.path.exists() else 0)
        if template:
            return _render_chat(template, system, user) + assistant_prefix
    return _BASE_LAYOUT.format(system=system.strip(), user=user.strip(), prefix=assistant_prefix)


def check_chat_template(model: ModelInfo) -> None:
    """Fail early, one line, for a chat model whose template is broken: it does not parse, cannot
    render a system + user exchange, or drops the messages. A model without a template is fine: it
    gets the completion format (base models)."""
    if not model.chat_template:
        return
    user = "lesr-local template check"
    try:
        rendered = render_prompt(model, "You write Python.", user)
    except BadInput as exc:
        raise BadInput(f"{model.name}: {_one_line(str(exc))}") from None
    if user not in rendered:
        raise BadInput(f"{model.name}: the model's chat template renders a prompt without the user message")


def _one_line(text: str) -> str:
    return " ".join(text.split())


@functools.lru_cache(maxsize=8)
def _chat_template(path: Path, _mtime_ns: int) -> str | None:
    # Cached per (path, mtime): reading the header walks the whole vocabulary (~0.25 s).
    return read_gguf(path).chat_template


@functools.lru_cache(maxsize=8)
def _compiled(template: str):  # type: ignore[no-untyped-def]
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env.globals["raise_exception"] = raise_exception
    try:
        return env.from_string(template)
    except TemplateError as exc:
        raise BadInput(f"the model's chat template does not parse: {_one_line(str(exc))}") from None


def _render_chat(template: str, system: str, user: str) -> str:
    from jinja2 import TemplateError

    compiled = _compiled(template)
    # bos_token is empty on purpose: llama.cpp adds BOS when tokenizing, a second one hurts.
    common = {"add_generation_prompt": True, "bos_token": "", "eos_token": ""}
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    if not system.strip():
        messages = messages[1:]
    try:
        return str(compiled.render(messages=messages, **common))
    except TemplateError:
        # Some templates (Gemma's among them) refuse a system role: fold it into the user turn.
        merged = [{"role": "user", "content": f"{system.strip()}\n\n{user}" if system.strip() else user}]
        try:
            return str(compiled.render(messages=merged, **common))
        except TemplateError as exc:
            raise BadInput(f"the model's chat template cannot render a prompt: {_one_line(str(exc))}") from None
