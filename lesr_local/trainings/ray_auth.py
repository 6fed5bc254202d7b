"""Ray's token authentication, as lesr-local meets it (no Ray import here: it must act before Ray reads its
settings, and `lesr doctor` reports on it without connecting).

Ray (2.52 and later) reads `RAY_AUTH_MODE` when it is imported and caches the token it finds: in
`RAY_AUTH_TOKEN`, in the file `RAY_AUTH_TOKEN_PATH` names, else in `~/.ray/auth_token`. A cluster
started with `ray start` while a token exists has token authentication on; a driver that joins it
with an explicit address must be told `RAY_AUTH_MODE=token`, which Ray itself does only for
address "auto". So:

- an explicit address (`--ray-address HOST:PORT`): when the user chose no mode and a token exists,
  token mode is switched on before connecting (and Ray's cached settings refreshed if it is already
  imported); with no token the connection is tried as is, and a refusal names the missing token;
- the private one-machine cluster (`--ray-address local`): Ray would generate a token and write it
  to `~/.ray/auth_token` in the user's home. lesr-local gives it a token of its own instead, in a
  private folder removed when the cluster stops, so a run leaves nothing in `~/.ray`.

`ClusterAuth` sets the process environment for one connection and puts it back afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MODE_VAR = "RAY_AUTH_MODE"
TOKEN_VAR = "RAY_AUTH_TOKEN"
TOKEN_PATH_VAR = "RAY_AUTH_TOKEN_PATH"
_VARS = (MODE_VAR, TOKEN_VAR, TOKEN_PATH_VAR)


@dataclass(frozen=True)
class TokenSource:
    where: str  # "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH=<file>" or the default file
    usable: bool  # False: named, but missing or empty (Ray then refuses to start)


def default_token_path() -> Path:
    return Path.home() / ".ray" / "auth_token"


def find_token() -> TokenSource | None:
    """Where Ray would take its token from, in Ray's own order; None when there is none."""
    if os.environ.get(TOKEN_VAR, "").strip():
        return TokenSource(TOKEN_VAR, True)
    named = os.environ.get(TOKEN_PATH_VAR)
    if named:
        return TokenSource(f"{TOKEN_PATH_VAR}={named}", _non_empty(Path(named)))
    path = default_token_path()
    if _non_empty(path):
        return TokenSource(str(path), True)
    return None


def _non_empty(path: Path) -> bool:
    try:
        return path.is_file() and bool(path.read_text().strip())
    except OSError:
        return False


def missing_token_hint(address: str) -> str:
    return (f"no Ray auth token on this machine ({default_token_path()}, {TOKEN_PATH_VAR} or {TOKEN_VAR}); "
            f"a cluster started with token authentication needs its token here: copy the head's "
            f"~/.ray/auth_token to this machine (or set {TOKEN_PATH_VAR}), then connect to {address} again")


@dataclass
class ClusterAuth:
    """The auth settings of one Ray connection; `apply()` before `ray.init`, `restore()` after `ray.shutdown`."""

    private: bool  # the private one-machine cluster (its own token), else an existing cluster
    _saved: dict[str, str | None] = field(default_factory=dict)
    _folder: Path | None = None
    token: TokenSource | None = None  # what an existing cluster is joined with (None: no token)

    def apply(self) -> None:
        self._saved = {name: os.environ.get(name) for name in _VARS}
        if self.private:
            if MODE_VAR not in os.environ:
                # Ray would write a fresh token into ~/.ray/auth_token: hand it one of ours instead.
                self._folder = Path(tempfile.mkdtemp(prefix="lesr-ray-auth-"))
                token_file = self._folder / "auth_token"
                fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_hex(32))
                os.environ.pop(TOKEN_VAR, None)
                os.environ[TOKEN_PATH_VAR] = str(token_file)
                os.environ[MODE_VAR] = "token"
        else:
            self.token = find_token()
            if MODE_VAR not in os.environ and self.token is not None and self.token.usable:
                os.environ[MODE_VAR] = "token"
        _refresh_ray()

    def restore(self) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved = {}
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        _refresh_ray()

    def refusal(self, address: str, error: str) -> str:
        """The one line for a connection Ray refused, naming a missing token where that is the likely cause."""
        line = f"cannot connect to the Ray cluster at {address}: {error}"
        if not self.private and (self.token is None or not self.token.usable):
            named = "" if self.token is None else f" ({self.token.where} is missing or empty)"
            line += f"; {missing_token_hint(address)}{named}"
        return line


def _refresh_ray() -> None:
    """Ray caches its settings and token at import: make an imported Ray read them again."""
    raylet = sys.modules.get("ray._raylet")
    if raylet is None:
        return  # not imported yet: Ray reads the environment as it stands when it is
    try:
        raylet.Config.initialize("")
        raylet.AuthenticationTokenLoader.instance().reset_cache()
    except AttributeError:  # a Ray from before token authentication (< 2.52): nothing to refresh
        pass
