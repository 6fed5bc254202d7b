"""Network audit for tests: put this folder on PYTHONPATH and set LESR_NET_AUDIT_LOG=FILE.

Every Python process that starts with it (the CLI, the LLM worker, training workers that inherit the
environment) writes one "start" line, then one line per socket operation that names a peer outside
this machine: connect/sendto/bind to a non-loopback IP address, or a name lookup of anything but
localhost. AF_UNIX sockets (the worker pipes) are not network. Native code that opens sockets without
going through Python's socket module is not seen here; the network-namespace test covers that.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys

_LOG = os.environ.get("LESR_NET_AUDIT_LOG")
_LOCAL_NAMES = {None, "", "localhost", b"localhost"}


def _is_local_host(host: object) -> bool:
    if host in _LOCAL_NAMES:
        return True
    try:
        text = host.decode() if isinstance(host, bytes) else str(host)
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


def _write(record: dict) -> None:
    try:
        with open(_LOG, "a") as fh:
            fh.write(json.dumps({"pid": os.getpid(), **record}) + "\n")
    except OSError:
        pass  # a sandboxed worker may not write; its start line was written before the walls went up


def _hook(event: str, args: tuple) -> None:
    if event in ("socket.connect", "socket.sendto", "socket.bind"):
        sock, address = args[0], args[1]
        if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
            return
        host = address[0] if isinstance(address, tuple) else address
        if event == "socket.bind" and host in ("", "0.0.0.0", "::"):
            _write({"event": event, "peer": repr(address), "argv": sys.argv[:3]})  # listening on every interface
        elif not _is_local_host(host):
            _write({"event": event, "peer": repr(address), "argv": sys.argv[:3]})
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex") \
            and not _is_local_host(args[0]):
        _write({"event": event, "peer": repr(args[0]), "argv": sys.argv[:3]})


if _LOG:
    _write({"event": "start", "argv": sys.argv[:3]})
    sys.addaudithook(_hook)
