"""GBNF grammars that force a reply into the candidate module shape.

The shape (what lesr_local.candidates checks):

    import numpy as np
    import math

    def revise_state(s):
        f1 = <expression over s[i]>
        ...
        return np.concatenate([s, np.array([f1, ..., fk])])

    def intrinsic_reward(updated_s):
        return float(np.clip(<expression that starts with an extra dim updated_s[D + j]>, -10, 10))

Why this small a language: a 270M base model writes plausible-looking but broken free-form code;
here every path through the grammar is valid Python that the AST policy accepts, indices stay in
range (the grammar is built for the env's state dim D), the features are scalars, divisions and
square roots cannot hit zero or negatives, the reward is clipped into the checks' bound, and it
must start from a feature F adds (the paper's contract: the intrinsic reward uses the extra dims).
Free-text comments were tried and dropped: the 270M model filled them with noise and ran out of
tokens before finishing the module. Grammar sampling cost grows with the
number of live parse stacks, so the rules are few, mostly deterministic, and lightly recursive.
"""

from __future__ import annotations

from lesr_local.errors import BadInput
from lesr_local.llm.discovery import ModelInfo, is_small_or_base

MAX_EXTRA_FEATURES = 4
_GENERIC_MAX_INDEX = 399  # dimension-free grammar: any index below this


def _index_rule(name: str, low: int, high: int) -> str:
    """Alternatives "low" | ... | "high-1" (literal decimal indices; GBNF has no integer ranges)."""
    if high <= low:
        raise ValueError(f"empty index range [{low}, {high})")
    if high - low > 64:  # long ranges: digits with a leading-digit rule (dimension-free grammar)
        return f'{name} ::= [0-9] | [1-9] [0-9] | [1-3] [0-9] [0-9]'
    return f"{name} ::= " + " | ".join(f'"{i}"' for i in range(low, high))


def candidate_grammar(
    state_dim: int | None = None, max_extra: int = MAX_EXTRA_FEATURES, focus: tuple[int, ...] | None = None,
) -> str:
    """The GBNF text; with `state_dim`, indices into s are < state_dim and the reward's first term
    reads one of the new dims (state_dim .. state_dim + k - 1 for k features).

    `focus` (needs `state_dim`): the first feature must start from one of these state dims. A small
    model given the same prompt writes the same module whatever the seed (and copies the code of
    earlier candidates shown to it), so pinning each sample's first feature to its own dims is what
    makes K samples K different candidates.
    """
    if state_dim is not None and state_dim < 1:
        raise ValueError(f"state_dim must be positive, got {state_dim}")
    if focus is not None and (state_dim is None or not focus or any(not 0 <= i < state_dim for i in focus)):
        raise ValueError(f"focus dims {focus!r} must be indices of the {state_dim}-dim state")
    if not 1 <= max_extra <= 8:
        raise ValueError(f"max_extra must be within 1..8, got {max_extra}")
    lines = [
        'root ::= "import numpy as np\\nimport math\\n\\n" module',
        "module ::= " + " | ".join(f"mod{k}" for k in range(1, max_extra + 1)),
    ]
    for k in range(1, max_extra + 1):
        first = "fexpr" if focus is not None else "sexpr"
        feats = "".join(f' "    f{i} = " {first if i == 1 else "sexpr"} "\\n"' for i in range(1, k + 1))
        names = ", ".join(f"f{i}" for i in range(1, k + 1))
        lines.append(
            f'mod{k} ::= "def revise_state(s):\\n"{feats} '
            f'"    return np.concatenate([s, np.array([{names}])])\\n\\n\\n" reward{k}'
        )
        lines.append(
            f'reward{k} ::= "def intrinsic_reward(updated_s):\\n" '
            f'"    return float(np.clip(" xterm{k} (binop rterm{k}){{0,3}} ", -10, 10))\\n"'
        )
        # The first term reads a new dim; later terms may read any dim that exists for k features.
        lines.append(f'xterm{k} ::= (coef " * ")? (rfn1 "updated_s[" xidx{k} "])" | "updated_s[" xidx{k} "]")')
        lines.append(f'rterm{k} ::= (coef " * ")? (rfn1 "updated_s[" ridx{k} "])" | "updated_s[" ridx{k} "]" | nznum)')
        if state_dim is None:
            # Without the state dim the grammar cannot know where the extra dims start.
            lines.append(_index_rule(f"xidx{k}", 0, _GENERIC_MAX_INDEX + 1))
            lines.append(_index_rule(f"ridx{k}", 0, _GENERIC_MAX_INDEX + 1))
        else:
            lines.append(_index_rule(f"xidx{k}", state_dim, state_dim + k))
            lines.append(_index_rule(f"ridx{k}", 0, state_dim + k))
    high = state_dim if state_dim is not None else _GENERIC_MAX_INDEX + 1
    if focus is not None:
        lines += [
            "fexpr ::= fterm (binop sterm){0,3}",
            'fterm ::= "-"? fatom (" / " divisor)?',
            'fatom ::= "s[" fidx "]" | fn1 "(s[" fidx "])" | "np.sqrt(np.abs(s[" fidx "]))" '
            '| fn2 "(s[" fidx "], " iexpr ")"',
            "fidx ::= " + " | ".join(f'"{i}"' for i in sorted(set(focus))),
        ]
    lines += [
        # Expressions over the source state (revise_state). Two levels and bounded repeats: the
        # model cannot wander into endless nesting and run out of tokens mid-module.
        "sexpr ::= sterm (binop sterm){0,3}",
        'sterm ::= "-"? satom (" / " divisor)?',
        'satom ::= "s[" sidx "]" | num | fn1 "(" iexpr ")" | fn2 "(" iexpr ", " iexpr ")" '
        '| "np.sqrt(np.abs(" iexpr "))" | red "(s[" sidx ":" sidx "])"',
        "iexpr ::= iterm (binop iterm){0,2}",
        'iterm ::= "-"? iatom',
        'iatom ::= "s[" sidx "]" | num | fn1 "(s[" sidx "])" | red "(s[" sidx ":" sidx "])"',
        _index_rule("sidx", 0, high),
        'rfn1 ::= "np.abs(" | "np.square(" | "np.tanh(" | "np.sin(" | "np.cos("',
        # Shared pieces ----------------------------------------------------------------------
        'binop ::= " + " | " - " | " * "',
        'divisor ::= pnum | "(np.abs(" iexpr ") + 1e-6)"',  # never zero
        'fn1 ::= "np.sin" | "np.cos" | "np.tanh" | "np.abs" | "np.square"',
        'fn2 ::= "np.arctan2" | "np.hypot" | "np.maximum" | "np.minimum"',
        # Reductions that are defined on empty slices too (s[5:3] is empty; max/mean would fail).
        'red ::= "np.sum" | "np.linalg.norm"',
        'coef ::= "-"? nznum',  # a zero coefficient would cancel the extra-dim term
        'num ::= [0-9] ("." [0-9] [0-9]?)?',
        'pnum ::= [1-9] ("." [0-9] [0-9]?)?',
        'nznum ::= pnum | "0." [0-9]? [1-9]',
    ]
    return "\n".join(lines) + "\n"


# The dimension-free grammar (indices unchecked): for callers that do not know the state dim.
CANDIDATE_GRAMMAR: str = candidate_grammar(None)


def use_grammar(mode: str, model: ModelInfo) -> bool:
    """--constrain auto|on|off; auto turns constrained decoding on for base or small models."""
    if mode == "on":
        return True
    if mode == "off":
        return False
    if mode == "auto":
        return is_small_or_base(model)
    raise BadInput(f"--constrain must be auto, on or off, got {mode!r}")
