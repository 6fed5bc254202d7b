"""`lesr models [--json]`, `lesr models add FILE`, `lesr models prepare`."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from lesr_local.cli import add_home_option
from lesr_local.errors import BadInput


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list, add and prepare GGUF models")
    add_home_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    parser.set_defaults(func=_list)
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION")

    add = actions.add_parser("add", help="validate a GGUF file and copy (or link) it into the models folder")
    add_home_option(add)
    add.add_argument("file", help="path to a .gguf model")
    add.add_argument("--link", action="store_true", help="symlink instead of copying")
    add.add_argument("--project", action="store_true",
                     help="put it in the project's models/ folder instead of the user's data folder")
    add.add_argument("--name", default=None, help="file name to use (default: the source file name)")
    add.add_argument("--force", action="store_true", help="replace a model of the same name")
    add.add_argument("--json", action="store_true", help="one JSON line on stdout")
    add.set_defaults(func=_add)

    prepare = actions.add_parser("prepare", help="assemble the bundled default model into the user cache")
    add_home_option(prepare)
    prepare.add_argument("--force", action="store_true", help="assemble again even if it is present")
    prepare.add_argument("--no-probe", action="store_true",
                         help="skip the one-token llama.cpp run that checks the runtime")
    prepare.add_argument("--json", action="store_true", help="one JSON line on stdout")
    prepare.set_defaults(func=_prepare)


def _list(args: argparse.Namespace) -> int:
    from lesr_local.llm.discovery import discover_models, scan_models
    from lesr_local.output import print_json

    models = discover_models()
    _, problems = scan_models(prepare_default=False)
    if args.json:
        # usable models (what --model NAME accepts), then what was found but cannot be used, and why
        print_json([m.to_json() | {"usable": True} for m in models] + [p.to_json() for p in problems])
        return 0
    if not models and not problems:
        print("no GGUF models found; run `lesr models prepare` or `lesr models add FILE`")
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console(markup=False)  # names, reasons and paths come from the file system
    table = Table(title="GGUF models (discovery order; --model takes the name)")
    table.add_column("name", no_wrap=True)  # what --model takes: never broken over lines
    for col in ("size", "quant", "params", "context", "chat", "default", "source"):
        table.add_column(col)
    table.add_column("path", overflow="fold")
    for m in models:
        table.add_row(
            m.name, _size(m.size_bytes), m.quantization or "?", _params(m.parameters),
            str(m.context_length or "?"), "yes" if m.chat_template else "no", "*" if m.default else "",
            m.source, str(m.path),
        )
    console.print(table)
    if problems:
        unusable = Table(title="found, but not usable")
        unusable.add_column("name", no_wrap=True)
        for col in ("source", "reason", "path"):
            unusable.add_column(col, overflow="fold")
        for problem in problems:
            unusable.add_row(problem.name or "?", problem.source or "?", problem.reason, str(problem.path))
        console.print(unusable)
    return 0


def _add(args: argparse.Namespace) -> int:
    from lesr_local.llm.discovery import load_model_info, model_name
    from lesr_local.output import print_json
    from lesr_local.workspace import project_models_dir, user_models_dir

    source = Path(args.file).expanduser()
    info = load_model_info(source, "user")  # BadInput: missing, not GGUF, truncated
    folder = project_models_dir() if args.project else user_models_dir()
    name = args.name or source.name
    if not name.lower().endswith(".gguf"):
        name += ".gguf"
    if "/" in name or os.sep in name or name.startswith("."):
        raise BadInput(f"--name must be a plain file name, got {args.name!r}")
    target = folder / name
    if target.resolve() == source.resolve():
        raise BadInput(f"{source} is already in the models folder")
    if (target.exists() or target.is_symlink()) and not args.force:
        raise BadInput(f"a model named {model_name(target)!r} already exists at {target}; pass --force to replace it")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot create the models folder {folder}: {exc.strerror or exc}") from None
    _install(source.resolve(), target, link=args.link)
    added = load_model_info(target, "project" if args.project else "user")
    if args.json:
        print_json(added.to_json() | {"linked": bool(args.link)})
    else:
        verb = "linked" if args.link else "copied"
        print(f"{verb} {info.name} ({_size(info.size_bytes)}, {info.quantization or '?'}) to {target}")
    return 0


def _install(source: Path, target: Path, link: bool) -> None:
    """Copy or link through a temporary name + rename: never a half-written model under its name."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if link:
            tmp.symlink_to(source)
        else:
            free = shutil.disk_usage(target.parent).free
            size = source.stat().st_size
            if size > free:
                raise BadInput(f"not enough disk space in {target.parent}: the model needs "
                               f"{_size(size)}, {_size(free)} free")
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise BadInput(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()


def _prepare(args: argparse.Namespace) -> int:
    from lesr_local.llm import bundled
    from lesr_local.llm.discovery import load_model_info
    from lesr_local.output import print_json

    was_ready = bundled.is_prepared() and not args.force
    path = bundled.prepare_bundled(force=args.force)
    info = load_model_info(path, "bundled")
    probe: dict[str, object] | None = None
    free_form: dict[str, object] | None = None
    if not args.no_probe:
        probe = _probe_runtime(info)
        if probe.get("ok"):
            free_form = _probe_free_form(info)
    if args.json:
        print_json({"path": str(path), "size_bytes": info.size_bytes, "already_prepared": was_ready,
                    "runtime": probe, "constrain_auto": free_form})
    else:
        state = "already prepared" if was_ready else "assembled and verified"
        print(f"default model {info.name}: {state} at {path}")
        if probe is not None:
            if probe.get("ok"):
                print(f"llama.cpp runtime ok (load {probe['load_s']:.1f} s, safe mode: "
                      f"{'yes' if probe['safe_mode'] else 'no'})")
            else:
                print(f"warning: llama.cpp runtime check failed: {probe['error']}", file=sys.stderr)
        if free_form is not None and "valid" in free_form:
            print(f"--constrain auto: {free_form['valid']} valid of {free_form['samples']} free-form candidates, "
                  f"so it is {'constrained' if free_form['constrain'] else 'left free-form'}")
        elif free_form is not None:
            print(f"warning: free-form probe failed: {free_form['error']}", file=sys.stderr)
    return 0


def _probe_free_form(info: object) -> dict[str, object]:
    """Measure (once per model file) what `--constrain auto` decides for the default model, so the
    first run does not pay for it."""
    from lesr_local.candidates.constrain_rule import decide_constrain, remembered_verdict
    from lesr_local.errors import LesrError
    from lesr_local.llm.client import LLMClient

    try:
        verdict = remembered_verdict(info)  # type: ignore[arg-type]
        if verdict is None:
            with LLMClient(info) as client:  # type: ignore[arg-type]
                _, verdict = decide_constrain("auto", info, lambda: client)  # type: ignore[arg-type]
        return verdict.to_json() if verdict is not None else {"error": "no verdict"}
    except LesrError as exc:
        return {"error": str(exc)}


def _probe_runtime(info: object) -> dict[str, object]:
    """Load the model and generate one token in the worker; also teaches the client its safe mode."""
    from lesr_local.errors import LesrError
    from lesr_local.llm.client import GenerationParams, LLMClient

    try:
        with LLMClient(info, n_ctx=512) as client:  # type: ignore[arg-type]
            client.generate("def f(x):", GenerationParams(max_tokens=2, seed=0))
            return {"ok": True, "load_s": client.load_seconds or 0.0, "safe_mode": client.safe_mode}
    except ImportError as exc:
        return {"ok": False, "error": f"llama-cpp-python is not installed ({exc})"}
    except LesrError as exc:
        return {"ok": False, "error": str(exc)}


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _params(n: int | None) -> str:
    if not n:
        return "?"
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"
