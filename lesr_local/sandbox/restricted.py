"""Restricted execution of candidate code: the AST policy again, then exec in a stripped namespace.

The namespace has a small builtins allowlist and a restricted `__import__` that hands out read-only
proxies of numpy and math exposing only allowlisted names. What it limits is names: no builtin, module
or numpy/math member outside the allowlists can be reached by name, whatever the AST policy let
through. numpy's own lazy imports of its internals (`numpy._core._methods` for `ndarray.max`, ...) go
through the calling frame's `__import__` too, but CPython's `PyImport_Import` ignores what
`__import__` returns and fetches the module from `sys.modules` itself, so the restricted import only
has to succeed for them, never to return the real module.

It does not limit attributes: the values candidate code holds keep all of theirs (`np.zeros(2).ctypes`,
`.tofile`, a function's `__globals__`). The AST policy's attribute allowlist and its ban on dunder names
(`sandbox.policy`) refuse those, and the OS walls (read-only file system, RLIMIT_FSIZE 0, seccomp)
stop what they could do; this namespace is not a wall against them.

NEVER call `load_candidate` in the engine or UI process: it refuses to run in a process that has not
applied the sandbox limits (`sandbox.limits.apply_limits`), and in one whose seccomp filter is not up
unless the user opted out (`SandboxRefused`; see `sandbox.limits`).
"""

from __future__ import annotations

import ast
import builtins
import math
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lesr_local.errors import BadInput, describe_exception
from lesr_local.sandbox.allowlists import (
    ALLOWED_MODULES,
    MATH_NAMES,
    NUMPY_LINALG_NAMES,
    NUMPY_NAMES,
    SAFE_BUILTIN_NAMES,
)
from lesr_local.sandbox.limits import SandboxRefused, candidate_refusal, is_sandboxed
from lesr_local.sandbox.policy import check_policy, strip_annotations


class CandidateRejected(BadInput):
    """The candidate failed the policy, failed to load, or failed a semantic check (one-line reason)."""


class NotSandboxed(RuntimeError):
    """load_candidate was called in a process that never applied the sandbox limits."""


@dataclass
class CandidateFunctions:
    revise_state: Callable[[np.ndarray], Any]
    intrinsic_reward: Callable[[np.ndarray], Any]


class ReadOnlyModule:
    """A module stand-in exposing only allowlisted attributes; it cannot be modified."""

    __slots__ = ("_name", "_members")

    def __init__(self, name: str, members: dict[str, Any]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_members", types.MappingProxyType(dict(members)))

    def __getattr__(self, attr: str) -> Any:
        members = object.__getattribute__(self, "_members")
        if attr in members:
            return members[attr]
        name = object.__getattribute__(self, "_name")
        raise AttributeError(f"{name}.{attr} is not available in candidate code")

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError("candidate modules are read-only")

    def __delattr__(self, attr: str) -> None:
        raise AttributeError("candidate modules are read-only")

    def __repr__(self) -> str:
        return f"<restricted module {object.__getattribute__(self, '_name')}>"


def _members(module: Any, names: frozenset[str]) -> dict[str, Any]:
    return {n: getattr(module, n) for n in sorted(names) if hasattr(module, n)}


def make_numpy_proxy() -> ReadOnlyModule:
    members = _members(np, NUMPY_NAMES - {"linalg"})
    members["linalg"] = ReadOnlyModule("np.linalg", _members(np.linalg, NUMPY_LINALG_NAMES))
    return ReadOnlyModule("np", members)


def make_math_proxy() -> ReadOnlyModule:
    return ReadOnlyModule("math", _members(math, MATH_NAMES))


def _noop_print(*args: Any, **kwargs: Any) -> None:
    return None


def make_namespace() -> dict[str, Any]:
    """Fresh globals for one candidate: stripped builtins, np and math proxies pre-bound."""
    modules = {"numpy": make_numpy_proxy(), "math": make_math_proxy()}

    def restricted_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                          level: int = 0) -> Any:
        if level == 0 and name in ALLOWED_MODULES:
            return modules[name]  # `from numpy import x` then reads x from the proxy
        if level == 0 and name.startswith("numpy.") and name in sys.modules:
            # numpy's C code importing its own, already loaded helpers (see the module docstring):
            # the import succeeds, and the caller gets the proxy, never the real module.
            return modules["numpy"]
        raise ImportError(f"import of {name!r} is not allowed in candidate code")

    safe = {n: getattr(builtins, n) for n in SAFE_BUILTIN_NAMES if hasattr(builtins, n)}
    safe["print"] = _noop_print
    safe["__import__"] = restricted_import
    return {
        "__builtins__": safe,  # must be a real dict for CPython's global lookups
        "__name__": "candidate",
        "np": modules["numpy"],
        "math": modules["math"],
    }


def load_candidate(source: str) -> CandidateFunctions:
    """Policy-check and execute `source` in a stripped namespace; raise CandidateRejected(reason).

    Refuses (NotSandboxed) to run in a process that has not called `apply_limits`: candidate code
    never runs in the engine or UI process; and (SandboxRefused) where the seccomp filter could not
    be installed, unless the limits carried the user's opt-out.
    """
    if not is_sandboxed():
        raise NotSandboxed("load_candidate needs a worker process that called apply_limits first")
    refusal = candidate_refusal()
    if refusal is not None:
        raise SandboxRefused(refusal)
    reason = check_policy(source)
    if reason is not None:
        raise CandidateRejected(reason)
    namespace = make_namespace()
    try:
        tree = strip_annotations(ast.parse(source, mode="exec"))
        code = compile(tree, "<candidate>", "exec", dont_inherit=True)
        exec(code, namespace)  # noqa: S102 - the sandboxed worker is the only caller
    except MemoryError:
        raise CandidateRejected("ran out of memory while loading the module") from None
    except RecursionError:
        raise CandidateRejected("hit the recursion limit while loading the module") from None
    except Exception as exc:  # noqa: BLE001 - any failure of hostile code is a rejection reason
        raise CandidateRejected(f"running the module failed: {describe_exception(exc)}") from None
    funcs = []
    for name in ("revise_state", "intrinsic_reward"):
        func = namespace.get(name)
        if not isinstance(func, types.FunctionType):
            raise CandidateRejected(f"`{name}` must be a function defined with def")
        funcs.append(func)
    return CandidateFunctions(revise_state=funcs[0], intrinsic_reward=funcs[1])
