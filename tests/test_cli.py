"""The `lesr` command-line contract: every sub-command exists, bad usage is one line + exit 2."""

from __future__ import annotations

import importlib.util

import pytest

from lesr_local.cli import COMMAND_MODULES, build_parser
from tests.conftest import run_lesr


def test_every_contract_command_is_implemented() -> None:
    missing = [n for n in COMMAND_MODULES if importlib.util.find_spec(f"lesr_local.commands.{n}") is None]
    assert missing == []


@pytest.mark.parametrize(
    "argv",
    [["run", "--help"], ["history", "--help"], ["show", "--help"], ["export", "--help"],
     ["candidate", "check", "--help"], ["train", "--help"], ["envs", "--help"], ["models", "--help"],
     ["render", "--help"], ["doctor", "--help"], ["bench", "llm", "--help"], ["bench", "td3", "--help"],
     ["tui", "--help"]],
)
def test_help_for_each_command(argv: list[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(argv)
    assert exc.value.code == 0


def test_unknown_flag_is_one_line_exit_2(home) -> None:
    result = run_lesr("envs", "--no-such-flag", home=home)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_home_option_accepted_before_and_after_command(home) -> None:
    parser = build_parser()
    before = parser.parse_args(["--home", str(home), "history"])
    after = parser.parse_args(["history", "--home", str(home)])
    assert before.home == str(home)
    assert after.home == str(home)
