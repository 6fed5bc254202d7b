"""The candidate grammar: every string it can produce is a valid candidate (random derivations)."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from lesr_local.errors import BadInput
from lesr_local.llm.discovery import ModelInfo
from lesr_local.llm.grammar import CANDIDATE_GRAMMAR, candidate_grammar, use_grammar
from lesr_local.sandbox.policy import check_policy

_TOKEN = re.compile(r'\s*(?:(?P<lit>"(?:[^"\\]|\\.)*")|(?P<cls>\[(?:[^\]\\]|\\.)*\])|(?P<rep>\{\d+(?:,\d*)?\})'
                    r'|(?P<op>[()|?*+])|(?P<ref>[a-zA-Z0-9_-]+))')


def _parse_rules(text: str) -> dict[str, list]:
    rules = {}
    for line in text.strip().splitlines():
        name, body = line.split("::=", 1)
        rules[name.strip()] = _parse_alt(_tokens(body))
    return rules


def _tokens(body: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(body.rstrip()):
        m = _TOKEN.match(body, pos)
        assert m, body[pos:]
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _parse_alt(toks: list) -> list:
    # returns ("alt", [seq, ...]) where seq = [item, ...]; consumes toks in place
    alts, seq = [], []
    while toks:
        kind, val = toks[0]
        if val == ")":
            break
        toks.pop(0)
        if val == "|":
            alts.append(seq)
            seq = []
        elif val == "(":
            seq.append(_parse_alt(toks))
            toks.pop(0)  # ")"
        elif kind == "op" or kind == "rep":
            low, high = {"?": (0, 1), "*": (0, 3), "+": (1, 3)}.get(val, (None, None))
            if kind == "rep":
                parts = val[1:-1].split(",")
                low = int(parts[0])
                high = int(parts[1]) if len(parts) > 1 and parts[1] else low + 3
            seq[-1] = ("rep", seq[-1], low, high)
        else:
            seq.append((kind, val))
    alts.append(seq)
    return ("alt", alts)


def _expand(node, rules, rng: random.Random, out: list[str]) -> None:
    kind = node[0]
    if kind == "alt":
        for item in rng.choice(node[1]):
            _expand(item, rules, rng, out)
    elif kind == "rep":
        for _ in range(rng.randint(node[2], node[3])):
            _expand(node[1], rules, rng, out)
    elif kind == "lit":
        out.append(bytes(node[1][1:-1], "utf-8").decode("unicode_escape"))
    elif kind == "cls":
        chars = re.findall(r"(.)-(.)|(.)", node[1][1:-1])
        pool = []
        for a, b, c in chars:
            pool += [chr(x) for x in range(ord(a), ord(b) + 1)] if a else [c]
        out.append(rng.choice(pool))
    elif kind == "ref":
        _expand(rules[node[1]], rules, rng, out)


def derive(grammar: str, seed: int) -> str:
    rules = _parse_rules(grammar)
    out: list[str] = []
    _expand(rules["root"], rules, random.Random(seed), out)
    return "".join(out)


@pytest.mark.parametrize("state_dim", [4, 17, 27])
def test_every_derivation_is_a_valid_candidate(state_dim: int) -> None:
    grammar = candidate_grammar(state_dim)
    rng = np.random.default_rng(0)
    states = rng.normal(scale=3.0, size=(16, state_dim))
    for seed in range(150):
        source = derive(grammar, seed)
        assert check_policy(source) is None, source
        namespace: dict = {}
        exec(compile(source, "<candidate>", "exec"), namespace)  # our own grammar's output, not LLM code
        for s in states:
            with np.errstate(all="ignore"):
                updated = namespace["revise_state"](s.copy())
                reward = namespace["intrinsic_reward"](updated.copy())
            assert updated.ndim == 1 and len(updated) > state_dim, source
            assert np.array_equal(updated[:state_dim], s), source
            assert np.all(np.isfinite(updated)), source
            assert isinstance(reward, float) and -10 <= reward <= 10, source
        reward_body = source.split("def intrinsic_reward", 1)[1]
        first_index = int(re.search(r"updated_s\[(\d+)\]", reward_body).group(1))
        assert first_index >= state_dim, source  # the reward starts from a new feature


def test_generic_grammar_and_bad_arguments() -> None:
    assert "root ::=" in CANDIDATE_GRAMMAR
    assert check_policy(derive(CANDIDATE_GRAMMAR, 1)) is None
    with pytest.raises(ValueError):
        candidate_grammar(0)
    with pytest.raises(ValueError):
        candidate_grammar(5, max_extra=0)


def _model(chat: bool, params: int) -> ModelInfo:
    from pathlib import Path

    return ModelInfo("m", Path("/x.gguf"), 1, None, params, 2048, chat, "llama", False, "user")


def test_use_grammar_modes() -> None:
    assert use_grammar("auto", _model(chat=False, params=7_000_000_000))  # base model
    assert use_grammar("auto", _model(chat=True, params=270_000_000))  # small model
    assert not use_grammar("auto", _model(chat=True, params=7_000_000_000))
    assert use_grammar("on", _model(chat=True, params=7_000_000_000))
    assert not use_grammar("off", _model(chat=False, params=1))
    with pytest.raises(BadInput):
        use_grammar("maybe", _model(chat=False, params=1))


def test_focus_pins_the_first_feature_to_the_sample_dims() -> None:
    grammar = candidate_grammar(17, focus=(6, 13))
    rng = np.random.default_rng(1)
    states = rng.normal(size=(8, 17))
    for seed in range(60):
        source = derive(grammar, seed)
        assert check_policy(source) is None, source
        first_line = next(line for line in source.splitlines() if line.strip().startswith("f1 = "))
        assert re.search(r"s\[(\d+)\]", first_line).group(1) in ("6", "13"), source
        namespace: dict = {}
        exec(compile(source, "<candidate>", "exec"), namespace)  # our own grammar's output, not LLM code
        for s in states:
            with np.errstate(all="ignore"):
                updated = namespace["revise_state"](s.copy())
            assert np.array_equal(updated[:17], s) and np.all(np.isfinite(updated)), source
    with pytest.raises(ValueError):
        candidate_grammar(17, focus=(17,))
    with pytest.raises(ValueError):
        candidate_grammar(None, focus=(1,))
