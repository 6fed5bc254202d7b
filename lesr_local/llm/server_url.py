"""Which LLM servers a run may talk to: loopback and the user's own network, by IP address, nothing else.

No cloud, by construction: `--llm-url` must name its host as an IP literal (or `localhost`, taken
as 127.0.0.1 without a name lookup) inside loopback, the RFC 1918 private ranges, link-local or
IPv6 unique-local addresses. A host name is refused rather than resolved: resolving it is itself
network traffic, and its answer could point anywhere.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass

from lesr_local.errors import BadInput

ALLOWED_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "::1/128",                                # loopback
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",         # RFC 1918
    "169.254.0.0/16", "fe80::/10",                           # link-local
    "fc00::/7",                                              # IPv6 unique local (ULA)
))
_EXAMPLE = "e.g. http://127.0.0.1:8080 or http://192.168.1.20:8080"


@dataclass(frozen=True)
class ServerAddress:
    host: str  # the IP address, as text (IPv6 without brackets)
    port: int
    base_path: str  # "" or a prefix such as "/llama" (a reverse proxy on the user's network)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.base_path}"


def check_llm_url(url: str) -> ServerAddress:
    """The address `url` names, or BadInput (one line) if it is not a loopback or private address."""
    text = url.strip()
    if not text:
        raise BadInput(f"--llm-url is empty; give the llama.cpp server's address, {_EXAMPLE}")
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise BadInput(f"--llm-url {url!r} is not a URL ({exc}); {_EXAMPLE}") from None
    if parts.scheme != "http":
        raise BadInput(f"--llm-url {url!r}: only http:// is supported (a llama.cpp server on your own "
                       f"machine or network); {_EXAMPLE}")
    if parts.username or parts.password:
        raise BadInput(f"--llm-url {url!r}: credentials in the URL are not supported")
    if parts.query or parts.fragment:
        raise BadInput(f"--llm-url {url!r}: a server address takes no query or fragment")
    host = parts.hostname or ""
    if not host:
        raise BadInput(f"--llm-url {url!r} names no host; {_EXAMPLE}")
    address = "127.0.0.1" if host.lower() == "localhost" else host
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        raise BadInput(f"--llm-url {url!r}: give the server's IP address, not a host name (names are not "
                       f"looked up, so a run cannot reach outside your network); {_EXAMPLE}") from None
    mapped = getattr(ip, "ipv4_mapped", None)
    checked = mapped if mapped is not None else ip
    if not any(checked in net for net in ALLOWED_NETWORKS if net.version == checked.version):
        raise BadInput(f"--llm-url {url!r}: {checked} is not on loopback or a private network of your own "
                       "(allowed: 127.0.0.0/8, ::1, 10/8, 172.16/12, 192.168/16, link-local, fc00::/7); "
                       "lesr-local never talks to outside servers")
    path = parts.path.rstrip("/")
    return ServerAddress(host=address, port=port or 80, base_path=path)
