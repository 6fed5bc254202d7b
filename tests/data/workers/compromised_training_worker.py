"""A training worker that speaks the sandbox protocol maliciously (test-only; never shipped).

Usage: python compromised_training_worker.py MODE CANARY. It reads nothing useful from the engine and
sends one kind of bad frame. CANARY is a path outside the run folder that must never appear.
"""

import json
import os
import pickle
import struct
import sys

PREFIX = struct.Struct("<IQ")
mode, canary = sys.argv[1], sys.argv[2]
out = os.fdopen(1, "wb")


def frame(header: dict, payload: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return PREFIX.pack(len(raw), len(payload)) + raw + payload


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {canary}",))


if mode == "pickle":  # what the old engine would have unpickled
    blob = pickle.dumps(("progress", Exploit()))
    out.write(PREFIX.pack(len(blob), 0) + blob)
elif mode == "path":  # a file at a path of the worker's choosing
    data = b"owned"
    out.write(frame({"type": "file_begin", "file": canary, "size": len(data)}))
    out.write(frame({"type": "file_chunk"}, data))
elif mode == "path_field":  # a result that names its own policy path
    out.write(frame({"type": "result", "status": "finished", "reason": None, "score": 1.0, "curve": [],
                     "lipschitz": None, "feature_dim": 4, "steps": 10, "seconds": 1.0, "steps_per_s": 1.0,
                     "updates_per_s": 1.0, "policy_path": canary, "write_to": canary}))
elif mode == "oversized":  # announces a 64 GiB payload
    raw = json.dumps({"type": "file_chunk"}).encode()
    out.write(PREFIX.pack(len(raw), 64 * 2**30) + raw)
elif mode == "malformed":  # a header that is not a JSON object with a type
    raw = b"[1, 2, 3]"
    out.write(PREFIX.pack(len(raw), 0) + raw)
elif mode == "huge_header":
    out.write(PREFIX.pack(2**31, 0))
elif mode == "bad_file":  # more bytes than announced, then a wrong checksum
    out.write(frame({"type": "file_begin", "file": "checkpoint", "size": 3}))
    out.write(frame({"type": "file_chunk"}, b"0123456789"))
out.flush()
sys.stdin.buffer.read()  # wait for the engine to end us
