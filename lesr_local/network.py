"""lesr-local and the network: it never needs one. Facts for `lesr doctor`, settings for Ray.

`network_access()` looks, it does not probe: it reads the kernel's routing tables, so asking sends no
packet and opens no socket (doctor must not do what it audits). Air-gapped lab machines show only
loopback here.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK_PREFIXES = ("lo",)  # Linux `lo`, macOS/BSD `lo0`

# Ray, when the scale-out executor uses it: no usage statistics (Ray reports them to its servers by
# default) and no dashboard (an HTTP server). Every `ray.init` lesr-local makes should be
# `ray.init(**RAY_INIT_OFFLINE_KWARGS, runtime_env={"env_vars": RAY_OFFLINE_ENV}, ...)` with
# `os.environ.update(RAY_OFFLINE_ENV)` before it; every `ray start` gets RAY_START_OFFLINE_ARGS.
RAY_OFFLINE_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_USAGE_STATS_PROMPT_ENABLED": "0"}
RAY_INIT_OFFLINE_KWARGS = {"include_dashboard": False}
RAY_START_OFFLINE_ARGS = ("--disable-usage-stats", "--include-dashboard=false")


@dataclass
class NetworkAccess:
    """What the routing tables say. access is None where the OS does not show them (not Linux)."""

    access: bool | None
    interfaces: list[str] = field(default_factory=list)     # non-loopback interfaces with a route
    default_route: bool = False

    def describe(self) -> str:
        if self.access is None:
            names = ", ".join(self.interfaces) or "none"
            return f"routes unknown on {sys.platform}; non-loopback interfaces: {names}"
        if not self.access:
            return "no network: loopback only (as on an air-gapped machine)"
        kind = "default route" if self.default_route else "local routes only, no default route"
        return f"network reachable through {', '.join(self.interfaces)} ({kind})"


def _is_loopback(name: str) -> bool:
    return name.startswith(LOOPBACK_PREFIXES)


def _ipv4_routes(path: Path) -> list[tuple[str, bool]]:
    """(interface, is_default) per row of /proc/net/route (destination 00000000 = default)."""
    rows = path.read_text().splitlines()[1:]
    return [(cols[0], cols[1] == "00000000") for cols in (r.split() for r in rows) if len(cols) > 2]


def _ipv6_routes(path: Path) -> list[tuple[str, bool]]:
    """(interface, is_default) per row of /proc/net/ipv6_route (::/0 = default).

    Every interface that is up gets link-local (fe80::/10) and multicast (ff00::/8) routes even with
    no network behind it, so those rows are skipped.
    """
    routes = []
    for row in path.read_text().splitlines():
        cols = row.split()
        if len(cols) < 10 or cols[0].startswith(("fe8", "fe9", "fea", "feb", "ff")):
            continue
        routes.append((cols[9], cols[0] == "0" * 32 and cols[1] == "00"))
    return routes


def network_access(proc_net: Path = Path("/proc/net")) -> NetworkAccess:
    """Whether any non-loopback interface has a route, and whether there is a default route."""
    routes: list[tuple[str, bool]] = []
    readable = False
    for name, reader in (("route", _ipv4_routes), ("ipv6_route", _ipv6_routes)):
        try:
            routes += reader(proc_net / name)
            readable = True
        except OSError:
            continue
    if not readable:
        try:
            names = sorted({n for _, n in socket.if_nameindex() if not _is_loopback(n)})
        except OSError:
            names = []
        return NetworkAccess(access=None, interfaces=names)
    outside = [(iface, default) for iface, default in routes if not _is_loopback(iface)]
    interfaces = sorted({iface for iface, _ in outside})
    return NetworkAccess(access=bool(interfaces), interfaces=interfaces,
                         default_route=any(default for _, default in outside))
