"""Run ids: short, sortable by creation time, readable (e.g. 20261121-203015-hc3f)."""

from __future__ import annotations

import re
import secrets
import string
import time

_ALPHABET = string.ascii_lowercase + string.digits
RUN_ID_PATTERN = re.compile(r"^\d{8}-\d{6}-[a-z0-9]{4}$")


def new_run_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(4))
    return f"{stamp}-{suffix}"


def looks_like_run_id(text: str) -> bool:
    return bool(RUN_ID_PATTERN.match(text))
