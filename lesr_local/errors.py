"""Errors that carry a documented exit code and a one-line message for the user."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 3
EXIT_INTERRUPTED = 130


def one_line(text: object, limit: int = 300) -> str:
    """Any text as one line of at most `limit` characters (reasons shown to users and to the LLM)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def describe_exception(exc: BaseException, limit: int = 160) -> str:
    """`TypeName: message` on one line (just the type name when there is no message)."""
    text = one_line(exc, limit)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class LesrError(Exception):
    """Base class: `str(err)` is shown to the user as one line; `exit_code` is the process status."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # always one line


class BadInput(LesrError):
    """The user gave us something we cannot use (path, id, file, flag value)."""

    exit_code = EXIT_BAD_INPUT


class RunFailed(LesrError):
    """The job ran but could not produce a result (e.g. no valid candidate at all)."""

    exit_code = EXIT_RUN_FAILED


class Interrupted(LesrError):
    """Ctrl-C: state was saved, the run can be resumed."""

    exit_code = EXIT_INTERRUPTED
