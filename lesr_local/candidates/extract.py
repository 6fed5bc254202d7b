"""Pull the candidate module out of an LLM reply: fenced or bare code, prose around it tolerated.

`extract_code(reply, prefix)` reads two texts: `prefix + reply` (the code priming the prompt ended
with, e.g. CANDIDATE_CODE_PREFIX, re-attached, so a reply that only continues the function body still
yields a whole module) and the reply alone (chat models often ignore the half-written function and
start their own block; prefix + reply then holds a `def revise_state(s):` with no body and does not
parse). It keeps what parses, preferring a module that defines both functions. Function bodies
written flush left are indented when that makes the code parse, and a missing `import numpy as np`
/ `import math` is added when the code uses the name.
"""

from __future__ import annotations

import ast
import re
import textwrap

_FENCE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([A-Za-z0-9_+-]*)[^\n]*$", re.MULTILINE)
_CODE_START = re.compile(r"^(import |from |def |@|[A-Za-z_][A-Za-z0-9_]*\s*=)")
_SPECIAL_TOKENS = re.compile(r"<(end_of_turn|start_of_turn|eos|/s|\|[a-z_]+\|)>")
_REQUIRED = "def revise_state"


def extract_code(reply: str, prefix: str = "") -> str | None:
    """The candidate module in `prefix + reply` or in the reply alone, or None when neither has a
    `def revise_state`. Order of preference: parses and defines both functions, parses, then the
    continuation (`prefix + reply`) so the checks report its real syntax error."""
    if not _SPECIAL_TOKENS.sub("", reply).strip(" \t\r\n`"):
        return None  # nothing written (e.g. the model closed the primed block at once): the prefix alone is no answer
    texts = [prefix + reply, reply] if prefix else [reply]
    found = [code for code in (_extract_one(text) for text in texts) if code is not None]
    if not found:
        return None
    for needs_reward in (True, False):
        for code in found:
            if _parses(code) and (not needs_reward or "def intrinsic_reward" in code):
                return code
    return found[0]


def _extract_one(raw: str) -> str | None:
    text = _SPECIAL_TOKENS.sub("\n", raw.replace("\r\n", "\n"))
    blocks = _fenced_blocks(text)
    chosen = [b for b in blocks if _REQUIRED in b or "def intrinsic_reward" in b]
    # Fenced: the blocks with the functions (a reward sent in a later block is joined on); else bare.
    code = "\n\n".join(_dedup(chosen)) if chosen else _bare_code(text)
    if code is None or _REQUIRED not in code:
        return None
    trimmed = _trim_to_parsable(code)
    if not _parses(trimmed):
        reindented = _trim_to_parsable(_indent_flat_bodies(code))
        if _parses(reindented):
            trimmed = reindented
    return _add_missing_imports(drop_main_block(trimmed).rstrip() + "\n")


_TOP_LEVEL = re.compile(r"^(def |import |from |@|class |if __name__)")


def _indent_flat_bodies(code: str) -> str:
    """Indent function bodies written flush left, as small chat models do when continuing
    `def revise_state(s):` (SmolLM2-135M-Instruct: every body line at column 0). A body whose first
    line is already indented is left alone; a flush-left one moves right by 4 spaces as a whole, so
    nested blocks inside it keep their shape. Only used when the code does not parse as it is."""
    out: list[str] = []
    in_def = False
    shift: bool | None = None
    for line in code.split("\n"):
        if _TOP_LEVEL.match(line):
            in_def, shift = line.startswith("def "), None
        elif in_def and line.strip():
            if shift is None:
                shift = not line[0].isspace()
            if shift:
                line = "    " + line
        out.append(line)
    return "\n".join(out)


_IMPORTS = (
    (re.compile(r"\bnp\."), re.compile(r"^import numpy as np\b", re.MULTILINE), "import numpy as np"),
    (re.compile(r"(?<![.\w])math\."), re.compile(r"^import math\b", re.MULTILINE), "import math"),
)


def _add_missing_imports(code: str) -> str:
    """Chat replies often drop the import line; the only two allowed imports are added when used."""
    missing = [line for used, present, line in _IMPORTS if used.search(code) and not present.search(code)]
    return "\n".join(missing) + "\n\n\n" + code if missing else code


def _fenced_blocks(text: str) -> list[str]:
    blocks: list[str] = []
    fences = list(_FENCE.finditer(text))
    i = 0
    while i < len(fences):
        opening = fences[i]
        body_start = opening.end() + 1
        closing = fences[i + 1] if i + 1 < len(fences) else None
        body = text[body_start: closing.start()] if closing else text[body_start:]  # unclosed: to the end
        blocks.append(textwrap.dedent(body))
        i += 2
    return blocks


def _dedup(blocks: list[str]) -> list[str]:
    """Drop blocks that redefine a function an earlier block already defines (keep the first)."""
    seen: set[str] = set()
    kept: list[str] = []
    for block in blocks:
        names = set(re.findall(r"^def ([A-Za-z_][A-Za-z0-9_]*)", block, re.MULTILINE))
        if names & {"revise_state", "intrinsic_reward"} and names & seen & {"revise_state", "intrinsic_reward"}:
            continue
        seen |= names
        kept.append(block)
    return kept


def _bare_code(text: str) -> str | None:
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return None
    first_def = next((i for i, line in enumerate(lines) if line.startswith(_REQUIRED)), None)
    if first_def is None:
        return None
    # Prose between the imports and the first def would break parsing: start at the last code run.
    while start < first_def and not all(
        not ln.strip() or _CODE_START.match(ln) or ln.startswith((" ", "\t", "#"))
        for ln in lines[start:first_def]
    ):
        start = next((i for i in range(start + 1, first_def + 1) if _CODE_START.match(lines[i])), first_def)
    return "\n".join(lines[start:])


def _trim_to_parsable(code: str) -> str:
    """Drop trailing prose lines (and at most a couple of truncated lines) until the module parses.

    If that does not help, return the code unchanged so the policy reports the real syntax error.
    """
    if _parses(code):
        return code
    lines = code.rstrip().split("\n")
    end = len(lines)
    while end > 0 and _is_prose(lines[end - 1]):
        end -= 1
    for cut in range(end, max(end - 3, 0), -1):
        candidate = "\n".join(lines[:cut])
        if "def revise_state" in candidate and _parses(candidate):
            return candidate
    return code


def _is_prose(line: str) -> bool:
    stripped = line.strip()
    return not stripped or (not line[0].isspace() and not _CODE_START.match(line)
                            and not stripped.startswith(("#", "return", "if ", "else", "elif", "for ", "while ")))


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def drop_main_block(code: str) -> str:
    """Remove top-level `if __name__ == "__main__":` blocks (shared modules often carry a demo there;
    importing never runs it, so neither do we). Unparsable code is returned unchanged."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return code
    lines = code.split("\n")
    spans = [(node.lineno - 1, node.end_lineno or node.lineno) for node in tree.body if _is_main_guard(node)]
    for start, end in reversed(spans):
        del lines[start:end]
    return "\n".join(lines)


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    parts = [test.left, *test.comparators]
    names = [p.id for p in parts if isinstance(p, ast.Name)]
    consts = [p.value for p in parts if isinstance(p, ast.Constant)]
    return (len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq) and names == ["__name__"]
            and consts == ["__main__"])
