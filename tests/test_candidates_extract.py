"""Code extraction from LLM replies: fenced, bare, with prose, primed by the assistant prefix."""

from __future__ import annotations

import pytest

from lesr_local.candidates.extract import extract_code
from lesr_local.candidates.prompts import CANDIDATE_CODE_PREFIX
from lesr_local.candidates.repair import GRAMMAR_CODE_PREFIX
from lesr_local.sandbox.policy import check_policy

MODULE = (
    "import numpy as np\n\n\ndef revise_state(s):\n    return np.concatenate([s, [s[0] ** 2]])\n\n\n"
    "def intrinsic_reward(updated_s):\n    return float(updated_s[-1])\n"
)


def test_fenced_block_with_prose_around() -> None:
    reply = f"Sure! Here is my idea.\n\n```python\n{MODULE}```\n\nThe feature squares the height."
    assert extract_code(reply) == MODULE


def test_bare_code_with_prose_around() -> None:
    reply = f"Here is the code:\n{MODULE}\nThis adds one dim."
    code = extract_code(reply)
    assert code == MODULE
    assert check_policy(code) is None


def test_prefix_is_reattached() -> None:
    body = ("    return np.concatenate([s, [s[0] ** 2]])\n\n\ndef intrinsic_reward(updated_s):\n"
            "    return float(updated_s[-1])\n```\nDone.")
    code = extract_code(body, CANDIDATE_CODE_PREFIX)
    assert code is not None and code.startswith("import numpy as np\n")
    assert check_policy(code) is None


def test_grammar_prefix_with_unclosed_fence() -> None:
    code = extract_code(MODULE, GRAMMAR_CODE_PREFIX)  # grammar output: the module, no closing fence
    assert code == MODULE


def test_functions_in_separate_blocks_are_joined() -> None:
    first, second = MODULE.split("\n\n\ndef intrinsic_reward")
    reply = f"```python\n{first}\n```\nand the reward:\n```\ndef intrinsic_reward{second}```"
    code = extract_code(reply)
    assert code is not None and check_policy(code) is None


def test_first_of_two_complete_versions_is_kept() -> None:
    other = MODULE.replace("** 2", "** 3")
    code = extract_code(f"```python\n{MODULE}```\nOr:\n```python\n{other}```")
    assert code == MODULE


def test_special_tokens_and_crlf() -> None:
    reply = "```python\r\n" + MODULE.replace("\n", "\r\n") + "```<end_of_turn>\n<start_of_turn>user"
    assert extract_code(reply) == MODULE


def test_indented_block_is_dedented() -> None:
    indented = "".join(f"    {line}\n" if line else "\n" for line in MODULE.splitlines())
    assert extract_code(f"```python\n{indented}```") == MODULE


def test_trailing_truncation_is_trimmed_to_what_parses() -> None:
    truncated = MODULE + "\n\ndef helper(x):\n    return (x +"
    code = extract_code(truncated)
    assert code == MODULE


def test_real_syntax_error_is_kept_for_the_policy_to_report() -> None:
    broken = MODULE.replace("def revise_state(s):", "def revise_state(s)")
    code = extract_code(f"```python\n{broken}```")
    assert code is not None and "syntax error" in check_policy(code)


@pytest.mark.parametrize("reply", ["", "I cannot help with that.", "```\nprint('hi')\n```",
                                   "def other(s):\n    return s\n"])
def test_no_candidate_gives_none(reply: str) -> None:
    assert extract_code(reply) is None


def test_main_guard_block_is_dropped() -> None:
    from lesr_local.candidates.extract import drop_main_block

    shared = MODULE + '\n\nif __name__ == "__main__":\n    print(revise_state(np.zeros(3)))\n'
    assert drop_main_block(shared).rstrip() == MODULE.rstrip()
    assert extract_code(f"```python\n{shared}```") == MODULE
    other = MODULE + "\nif __name__ != '__main__':\n    pass\n"
    assert drop_main_block(other) == other  # only the exact guard goes; the policy judges the rest


# Chat models answer the primed prompt in their own way: they restart the block instead of continuing
# the half-written `def revise_state(s):` (SmolLM2-135M-Instruct did in 3 of 3 replies).

def test_chat_reply_that_restarts_its_own_fenced_block() -> None:
    reply = f"```python\n{MODULE}```\nThis adds the squared height."
    assert extract_code(reply, CANDIDATE_CODE_PREFIX) == MODULE


def test_chat_reply_that_restarts_with_prose_then_a_fence() -> None:
    reply = f"Here is a candidate for the task.\n\n```python\n{MODULE}```\n\n**Explanation**: one dim."
    assert extract_code(reply, CANDIDATE_CODE_PREFIX) == MODULE


def test_chat_reply_that_restarts_with_bare_code() -> None:
    assert extract_code(MODULE, CANDIDATE_CODE_PREFIX) == MODULE


def test_chat_special_tokens_are_dropped() -> None:
    reply = f"```python\n{MODULE}```<|im_end|>\n<|im_start|>user"
    assert extract_code(reply, CANDIDATE_CODE_PREFIX) == MODULE


def test_missing_imports_are_added_when_used() -> None:
    body = MODULE.replace("import numpy as np\n\n\n", "").replace("float(updated_s[-1])",
                                                                   "float(math.tanh(updated_s[-1]))")
    code = extract_code(f"Sure:\n```python\n{body}```", CANDIDATE_CODE_PREFIX)
    assert code is not None and code.startswith("import numpy as np\nimport math\n")
    assert check_policy(code) is None
    assert extract_code(MODULE) == MODULE  # nothing added when present


def test_continuation_wins_when_both_parse() -> None:
    # A body that continues the prefix; the reply alone has no revise_state, so the continuation is used.
    body = "    return np.concatenate([s, [s[1]]])\n\n\ndef intrinsic_reward(updated_s):\n    return 1.0\n"
    code = extract_code(body, CANDIDATE_CODE_PREFIX)
    assert code is not None and "s[1]" in code and code.count("def revise_state") == 1


def test_neither_parses_reports_the_continuation() -> None:
    reply = "def revise_state(s):\n    return (s +\n"  # the reply alone is broken too
    code = extract_code(reply, CANDIDATE_CODE_PREFIX)
    assert code is not None and code.startswith("import numpy as np\n\n\ndef revise_state(s):\n")


def test_flush_left_bodies_are_indented() -> None:
    # What SmolLM2-135M-Instruct wrote after the priming: the bodies at column 0.
    reply = ("feature_1 = np.abs(s[0])\nif feature_1 > 1:\n    feature_1 = 1.0\n"
             "return np.concatenate([s, np.array([feature_1])])\n\n"
             "def intrinsic_reward(updated_s):\nreturn float(np.clip(updated_s[11], -10.0, 10.0))\n")
    code = extract_code(reply, CANDIDATE_CODE_PREFIX)
    assert code is not None and check_policy(code) is None
    assert "\n    if feature_1 > 1:\n        feature_1 = 1.0\n" in code
    assert "\n    return float(np.clip(updated_s[11], -10.0, 10.0))" in code


def test_empty_reply_after_the_priming_is_no_code() -> None:
    for reply in ("", "```", "\n```\n", "<|im_end|>"):
        assert extract_code(reply, CANDIDATE_CODE_PREFIX) is None
