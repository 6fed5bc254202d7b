"""AST policy for LLM-written candidate code: the first wall, applied before anything runs.

`check_policy(source)` returns None when the module is acceptable, else a one-line reason that can
be sent back to the LLM. The policy is an allowlist: imports of numpy (as np) and math only; names,
numpy/math functions and value attributes from `allowlists`; no dunder names or attributes, no
classes, no global/nonlocal, no generators or async code, no `match`, no `with`. It also checks the
module defines `revise_state(s)` and `intrinsic_reward(updated_s)` at top level. Type hints may only
name types and are removed before execution (`strip_annotations`), so they are never evaluated.
"""

from __future__ import annotations

import ast

from lesr_local.sandbox.allowlists import (
    FORBIDDEN_NAMES,
    MATH_NAMES,
    NUMPY_LINALG_NAMES,
    NUMPY_NAMES,
    VALUE_ATTRIBUTES,
)

MAX_SOURCE_CHARS = 20_000
REQUIRED_FUNCTIONS = ("revise_state", "intrinsic_reward")
MODULE_ALIASES = ("np", "math")

_FORBIDDEN_NODES: dict[type, str] = {
    ast.ClassDef: "class definitions are not allowed",
    ast.Global: "`global` is not allowed (candidates must not keep state between calls)",
    ast.Nonlocal: "`nonlocal` is not allowed (candidates must not keep state between calls)",
    ast.AsyncFunctionDef: "async functions are not allowed",
    ast.Await: "`await` is not allowed",
    ast.AsyncFor: "async loops are not allowed",
    ast.AsyncWith: "`async with` is not allowed",
    ast.With: "`with` blocks are not allowed",
    ast.Yield: "generators (`yield`) are not allowed",
    ast.YieldFrom: "generators (`yield from`) are not allowed",
    ast.Match: "`match` statements are not allowed",
}


class PolicyViolation(Exception):
    """Raised inside the visitor; the message is the one-line reason."""


def check_policy(source: str) -> str | None:
    """None if `source` is an acceptable candidate module, else a one-line reason."""
    if len(source) > MAX_SOURCE_CHARS:
        return f"the code is too long ({len(source)} characters, limit {MAX_SOURCE_CHARS})"
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as exc:
        return f"syntax error on line {exc.lineno}: {exc.msg}"
    except (ValueError, MemoryError, RecursionError) as exc:
        return f"the code cannot be parsed: {type(exc).__name__}"
    try:
        _Visitor().visit(tree)
        _check_required_functions(tree)
    except PolicyViolation as exc:
        return str(exc)
    except RecursionError:
        return "the code is nested too deeply"
    return None


def _check_required_functions(tree: ast.Module) -> None:
    defined = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    for name, param in zip(REQUIRED_FUNCTIONS, ("s", "updated_s"), strict=True):
        func = defined.get(name)
        if func is None:
            raise PolicyViolation(f"missing function `def {name}({param}):` at the top level of the module")
        args = func.args
        positional = len(args.posonlyargs) + len(args.args)
        required = positional - len(args.defaults)
        if args.vararg is None and (positional < 1 or required > 1):
            raise PolicyViolation(f"`{name}` must take exactly one argument: def {name}({param}):")


_ANNOTATION_NODES = (ast.Name, ast.Attribute, ast.Subscript, ast.Constant, ast.Tuple, ast.List, ast.BinOp,
                     ast.BitOr, ast.Load)


def _check_annotation(node: ast.AST) -> None:
    """Type hints are never evaluated (`strip_annotations`); they may only be plain dotted names."""
    for sub in ast.walk(node):
        if not isinstance(sub, _ANNOTATION_NODES):
            _reject(node, "type annotations may only name types (e.g. np.ndarray, float)")
        name = sub.id if isinstance(sub, ast.Name) else sub.attr if isinstance(sub, ast.Attribute) else ""
        if name.startswith("_"):
            _reject(node, f"type annotation `{name}` is not allowed")


class _AnnotationStripper(ast.NodeTransformer):
    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.annotation = None
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)


def strip_annotations(tree: ast.Module) -> ast.Module:
    """Remove type hints so they are never evaluated (np.ndarray need not exist in the sandbox)."""
    return ast.fix_missing_locations(_AnnotationStripper().visit(tree))


def _reject(node: ast.AST, message: str) -> None:
    line = getattr(node, "lineno", None)
    raise PolicyViolation(f"line {line}: {message}" if line else message)


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and len(name) > 4


def _dotted(node: ast.Attribute) -> list[str] | None:
    """['np', 'linalg', 'norm'] for np.linalg.norm; None when the chain is not rooted at a Name."""
    parts: list[str] = []
    current: ast.AST = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    parts.append(current.id)
    return parts[::-1]


class _Visitor(ast.NodeVisitor):
    def generic_visit(self, node: ast.AST) -> None:
        reason = _FORBIDDEN_NODES.get(type(node))
        if reason is not None:
            _reject(node, reason)
        super().generic_visit(node)

    # imports -------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            ok = (alias.name == "numpy" and alias.asname == "np") or (
                alias.name == "math" and alias.asname in (None, "math")
            )
            if not ok:
                shown = alias.name + (f" as {alias.asname}" if alias.asname else "")
                _reject(node, f"`import {shown}` is not allowed; only `import numpy as np` and `import math`")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        _reject(node, f"`from {node.module or '.'} import ...` is not allowed; "
                      "only `import numpy as np` and `import math`")

    # names ---------------------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        self._check_name(node, node.id)
        if isinstance(node.ctx, (ast.Store, ast.Del)) and node.id in MODULE_ALIASES:
            _reject(node, f"do not assign to `{node.id}`")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check_name(node, node.name)
        if node.name in MODULE_ALIASES:
            _reject(node, f"do not define a function named `{node.name}`")
        for decorator in node.decorator_list:
            self.visit(decorator)
        self.visit(node.args)
        if node.returns is not None:
            _check_annotation(node.returns)
        for statement in node.body:
            self.visit(statement)

    def visit_arg(self, node: ast.arg) -> None:
        self._check_name(node, node.arg)
        if node.arg in MODULE_ALIASES:
            _reject(node, f"do not use `{node.arg}` as a parameter name")
        if node.annotation is not None:
            _check_annotation(node.annotation)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        _check_annotation(node.annotation)
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    def visit_alias(self, node: ast.alias) -> None:
        return None  # checked in visit_Import

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name is not None:
            self._check_name(node, node.name)
        self.generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg is not None and _is_dunder(node.arg):
            _reject(node, f"keyword argument `{node.arg}` is not allowed")
        self.generic_visit(node)

    def _check_name(self, node: ast.AST, name: str) -> None:
        if _is_dunder(name):
            _reject(node, f"dunder name `{name}` is not allowed")
        reason = FORBIDDEN_NAMES.get(name)
        if reason is not None:
            _reject(node, reason)

    # attributes ----------------------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        parts = _dotted(node)
        if parts is not None and parts[0] in MODULE_ALIASES:
            self._check_module_path(node, parts)
            return  # the inner nodes are the module path just checked
        self.visit(node.value)  # inner problems first: the reason names the earliest escape step
        name = node.attr
        if name.startswith("_"):
            _reject(node, f"attribute `.{name}` is not allowed (no underscore attributes)")
        if name not in VALUE_ATTRIBUTES:
            _reject(node, f"attribute or method `.{name}` is not allowed on values")

    def _check_module_path(self, node: ast.Attribute, parts: list[str]) -> None:
        dotted = ".".join(parts)
        if any(p.startswith("_") for p in parts[1:]):
            _reject(node, f"`{dotted}` is not allowed (no underscore attributes)")
        root, rest = parts[0], parts[1:]
        if root == "math":
            if len(rest) != 1 or rest[0] not in MATH_NAMES:
                _reject(node, f"`{dotted}` is not an allowed math function")
            return
        head = rest[0]
        if head == "random":
            _reject(node, f"`{dotted}` is not allowed: random numbers make features nondeterministic")
        if head == "linalg":
            if len(rest) == 2 and rest[1] in NUMPY_LINALG_NAMES:
                return
            _reject(node, f"`{dotted}` is not an allowed numpy function")
        if len(rest) == 1 and head in NUMPY_NAMES:
            return
        if len(rest) == 2 and head in NUMPY_NAMES and rest[1] in VALUE_ATTRIBUTES:
            return  # e.g. np.pi.is_integer / np.float64.max are harmless value attributes
        _reject(node, f"`{dotted}` is not an allowed numpy function (pure math and array functions only)")

    # strings -------------------------------------------------------------------------------
    def visit_Constant(self, node: ast.Constant) -> None:
        return None  # formatting can reach attributes only through .format/.format_map, rejected above
