"""What candidate code may touch: builtins, numpy and math functions, and methods on values.

Shared by the AST policy (which rejects anything else before the code is ever run) and the sandbox
(which builds the stripped namespace and the read-only module proxies from the same lists, so a
policy bypass still finds nothing dangerous to reach).
"""

from __future__ import annotations

# Builtins a candidate may call. Nothing here reads or writes files, imports, introspects objects,
# reaches attributes by name, or evaluates code.
SAFE_BUILTIN_NAMES: frozenset[str] = frozenset({
    "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "frozenset", "int",
    "isinstance", "iter", "len", "list", "map", "max", "min", "next", "pow", "print", "range", "repr",
    "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip",
    "True", "False", "None",
    "Exception", "ArithmeticError", "AssertionError", "FloatingPointError", "IndexError", "KeyError",
    "OverflowError", "RuntimeError", "StopIteration", "TypeError",
    "ValueError", "ZeroDivisionError",
})

# Names whose mere mention is rejected, with the reason shown to the LLM.
FORBIDDEN_NAMES: dict[str, str] = {
    name: f"`{name}` is not allowed in candidate code"
    for name in (
        "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "hasattr", "globals",
        "locals", "vars", "dir", "input", "breakpoint", "type", "object", "super", "help", "id",
        "memoryview", "bytearray", "bytes", "classmethod", "staticmethod", "property", "format",
        "exit", "quit", "license", "copyright", "credits", "callable", "issubclass", "BaseException",
        "KeyboardInterrupt", "SystemExit", "GeneratorExit", "MemoryError", "RecursionError",
    )
}

# numpy functions and constants (pure math and array construction; no I/O, no memory maps, no
# library loading, no random numbers, no uninitialised memory).
NUMPY_NAMES: frozenset[str] = frozenset({
    # construction and shape
    "array", "asarray", "asanyarray", "concatenate", "hstack", "vstack", "stack", "column_stack",
    "append", "zeros", "ones", "zeros_like", "ones_like", "full", "full_like", "arange", "linspace",
    "reshape", "ravel", "squeeze", "expand_dims", "atleast_1d", "atleast_2d", "transpose", "flip",
    "roll", "tile", "repeat", "copy", "split", "array_split", "diag", "eye", "identity", "take",
    "delete", "insert", "where", "select", "nonzero", "argwhere", "flatnonzero", "unique",
    # elementwise math
    "abs", "absolute", "sign", "sqrt", "cbrt", "square", "exp", "exp2", "expm1", "log", "log1p",
    "log2", "log10", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh",
    "tanh", "arcsinh", "arccosh", "arctanh", "hypot", "deg2rad", "rad2deg", "degrees", "radians",
    "floor", "ceil", "round", "around", "rint", "trunc", "fix", "mod", "fmod", "remainder", "power",
    "float_power", "divide", "true_divide", "floor_divide", "multiply", "add", "subtract",
    "negative", "positive", "reciprocal", "minimum", "maximum", "fmin", "fmax", "clip", "heaviside",
    "isnan", "isinf", "isfinite", "nan_to_num", "logical_and", "logical_or", "logical_not",
    "logical_xor", "greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
    "isclose", "allclose", "array_equal", "interp", "unwrap", "sinc", "logaddexp",
    # reductions and linear algebra
    "sum", "mean", "average", "std", "var", "median", "min", "max", "amin", "amax", "argmin",
    "argmax", "ptp", "prod", "cumsum", "cumprod", "diff", "gradient", "dot", "vdot", "inner",
    "outer", "cross", "matmul", "einsum", "trace", "sort", "argsort", "all", "any",
    "count_nonzero", "nansum", "nanmean", "nanmax", "nanmin", "percentile", "quantile",
    "polyval", "convolve", "tensordot", "kron",
    # constants and scalar types
    "pi", "e", "inf", "nan", "newaxis", "euler_gamma",
    "float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool_", "float_",
    "finfo", "r_", "c_",
    # submodule (its own allowlist below)
    "linalg",
})

NUMPY_LINALG_NAMES: frozenset[str] = frozenset({
    "norm", "det", "inv", "pinv", "solve", "eigvals", "eigvalsh", "matrix_rank", "svd", "qr",
})

MATH_NAMES: frozenset[str] = frozenset({
    "sqrt", "exp", "expm1", "log", "log1p", "log2", "log10", "pow", "sin", "cos", "tan", "asin",
    "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "hypot", "floor",
    "ceil", "trunc", "fabs", "fmod", "copysign", "degrees", "radians", "isnan", "isinf",
    "isfinite", "isclose", "pi", "e", "tau", "inf", "nan", "fsum", "prod", "dist", "erf", "erfc",
    "gamma", "lgamma", "remainder", "modf", "frexp", "ldexp", "factorial", "comb", "perm", "gcd",
})

# Attributes and methods allowed on values (arrays, numpy scalars, lists, dicts, strings, finfo).
# Deliberately absent: tofile, dump, dumps, ctypes, data, base, setflags, view, __anything__,
# format, format_map, frame / code / traceback attributes (f_*, gi_*, tb_*, co_*).
VALUE_ATTRIBUTES: frozenset[str] = frozenset({
    # ndarray / numpy scalar
    "shape", "ndim", "size", "dtype", "T", "astype", "reshape", "flatten", "ravel", "copy", "sum",
    "mean", "std", "var", "min", "max", "argmin", "argmax", "clip", "dot", "round", "prod",
    "cumsum", "cumprod", "any", "all", "tolist", "item", "squeeze", "transpose", "sort", "argsort",
    "nonzero", "real", "imag", "conj", "trace", "diagonal", "fill", "repeat", "take", "swapaxes",
    "ptp", "flat",
    # finfo
    "eps", "tiny", "resolution",
    # list / dict / set / str
    "append", "extend", "insert", "pop", "index", "count", "reverse", "remove", "clear", "keys",
    "values", "items", "get", "update", "setdefault", "add", "discard", "union", "intersection",
    "difference", "join", "split", "strip", "lower", "upper", "replace", "startswith", "endswith",
    # exceptions
    "args",
    # float
    "is_integer",
})

ALLOWED_MODULES: dict[str, str] = {"numpy": "np", "math": "math"}
