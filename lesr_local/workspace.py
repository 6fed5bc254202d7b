"""Where lesr-local keeps its data: the workspace (SQLite store + runs/) and user folders."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from lesr_local.errors import BadInput

APP_NAME = "lesr-local"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The workspace: --home, then $LESR_HOME, then the platform's user data folder."""
    chosen = home or os.environ.get("LESR_HOME") or platformdirs.user_data_dir(APP_NAME)
    return Path(chosen).expanduser().resolve()


def ensure_writable_home(home: Path) -> Path:
    """Create the workspace if needed; a one-line BadInput if it cannot be written."""
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = home / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise BadInput(f"workspace {home} is not writable: {exc.strerror or exc}") from None
    return home


def user_models_dir() -> Path:
    """Models the user added with `lesr models add` live here (besides the project's models/)."""
    return Path(platformdirs.user_data_dir(APP_NAME)) / "models"


def project_models_dir() -> Path:
    return PROJECT_ROOT / "models"


def user_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME))


def home_from(args: object, *, create: bool = True) -> Path:
    """The workspace a command's parsed arguments name (`--home`, else $LESR_HOME, else the user data
    folder), created and checked writable unless `create` is False."""
    home = resolve_home(getattr(args, "home", None))
    return ensure_writable_home(home) if create else home
