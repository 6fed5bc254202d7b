"""The sandbox's own walls, tested in real subprocesses (apply_limits is irreversible).

These prove what docs/security.md claims: with the limits a check worker and a training worker
really get (`candidates.checks.default_check_limits`, `rl.sandboxing.training_limits`), a worker cannot
start processes, open network sockets or write files, while threads still work; and code executed in
the stripped namespace (even code the AST policy would have refused) finds no open, no imports and no
numpy member outside the allowlist (attributes of the values it holds are a matter for the policy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent("""
    import json, os, socket, subprocess, sys, threading
    sys.path.insert(0, {root!r})
    import numpy as np
    from lesr_local.sandbox.limits import SandboxLimits, apply_limits
    {setup}
    report = apply_limits(limits)
    out = {{"report": {{"seccomp": report.seccomp, "netns": report.network_namespace,
                        "read_only": report.read_only_fs, "rlimits": report.rlimits,
                        "processes_blocked": report.processes_blocked, "network_cut": report.network_cut}}}}

    def attempt(name, fn):
        try:
            fn()
            out[name] = "allowed"
        except OSError as exc:
            out[name] = "blocked:" + str(exc.errno)

    done = []
    t = threading.Thread(target=lambda: done.append(float(np.linalg.norm(np.ones(4)))))
    t.start(); t.join()
    out["thread"] = done == [2.0]
    attempt("fork", lambda: os._exit(0) if os.fork() == 0 else os.wait())
    attempt("spawn", lambda: subprocess.run(["/bin/true"], check=True))
    attempt("inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
    attempt("inet6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close())
    attempt("unix", lambda: socket.socket(socket.AF_UNIX).close())
    attempt("create", lambda: open({canary!r}, "w").close())
    attempt("mkdir", lambda: os.mkdir({canary!r} + ".d"))
    attempt("read", lambda: open({readable!r}).read())
    try:
        big = np.zeros(3 * 1024 ** 3 // 8)  # calloc: address space only, no page is touched
        del big
        out["big_alloc"] = "allowed"
    except MemoryError:
        out["big_alloc"] = "MemoryError"
    sys.stdout.write(json.dumps(out) + "\\n")
""")


CHECK_LIMITS = "from lesr_local.candidates.checks import default_check_limits; limits = default_check_limits()"
TRAINING_LIMITS = ("from lesr_local.rl.sandboxing import training_limits; from lesr_local.rl.spec import TrainSpec; "
                   "limits = training_limits(TrainSpec(env_id='InvertedPendulum-v5', steps=100_000))")


def _probe(tmp_path: Path, setup: str) -> dict:
    canary = tmp_path / "canary.txt"
    script = PROBE.format(root=str(ROOT), setup=setup, canary=str(canary), readable=__file__)
    proc = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={"OPENBLAS_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(sys.platform != "linux", reason="seccomp and namespaces are Linux features")
def test_check_worker_limits_lock_the_worker_down(tmp_path: Path) -> None:
    out = _probe(tmp_path, CHECK_LIMITS)
    report = out["report"]
    assert report["seccomp"] and report["read_only"] and report["processes_blocked"] and report["network_cut"]
    assert report["rlimits"]["RLIMIT_AS"] == 1024 * 1024 * 1024
    assert report["rlimits"]["RLIMIT_FSIZE"] == 0 and report["rlimits"]["RLIMIT_CORE"] == 0
    assert "RLIMIT_CPU" in report["rlimits"] and report["rlimits"]["RLIMIT_NOFILE"] == 64
    if os.geteuid() == 0:
        assert report["netns"]  # root may unshare a fresh, empty network namespace
    assert out["thread"] is True  # threads are not processes: they still work
    assert out["fork"] == "blocked:1" and out["spawn"] == "blocked:1"
    assert out["inet"] == "blocked:97" and out["inet6"] == "blocked:97"
    assert out["unix"] == "blocked:97"  # no sockets of any family
    assert out["create"] == "blocked:30" and out["mkdir"] == "blocked:30"
    assert out["read"] == "allowed"
    assert out["big_alloc"] == "MemoryError"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(sys.platform != "linux", reason="seccomp and namespaces are Linux features")
def test_training_worker_limits_keep_memory_but_no_files(tmp_path: Path) -> None:
    # What a training worker gets: room for torch, its replay buffer and headroom, no CPU cap (the
    # parent's hang watchdog), and no file writes at all (checkpoints and policies stream to the parent).
    out = _probe(tmp_path, TRAINING_LIMITS)
    report = out["report"]
    assert report["seccomp"] and report["read_only"] and report["processes_blocked"] and report["network_cut"]
    assert report["rlimits"]["RLIMIT_FSIZE"] == 0 and report["rlimits"]["RLIMIT_NOFILE"] == 256
    assert "RLIMIT_CPU" not in report["rlimits"]
    assert report["rlimits"]["RLIMIT_AS"] > 6144 * 2**20  # what torch mapped + the buffer + 6 GB
    assert out["create"] == "blocked:30" and out["mkdir"] == "blocked:30"
    assert out["fork"] == "blocked:1" and out["spawn"] == "blocked:1" and out["inet"] == "blocked:97"
    assert out["thread"] is True and out["read"] == "allowed"
    assert out["big_alloc"] == "allowed"
    assert list(tmp_path.iterdir()) == []


BYPASS = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    from lesr_local.sandbox.restricted import make_namespace
    results = {{}}
    snippets = {{
        "open": "open('canary.txt', 'w')",
        "import_os": "__import__('os')",
        "import_stmt": "import os",
        "import_numpy_lib": "__import__('numpy.lib', fromlist=['x']).format",
        "numpy_core_ctypes": "__import__('numpy._core._internal', fromlist=['ctypes']).ctypes",
        "numpy_core_fromfile": "__import__('numpy._core.multiarray', fromlist=['fromfile']).fromfile",
        "numpy_core_from": "from numpy._core.multiarray import fromfile",
        "numpy_unloaded": "__import__('numpy.f2py', fromlist=['x'])",
        "ndarray_max": "np.array([1.0, 3.0]).max()",
        "np_load": "np.load",
        "np_save": "np.save",
        "np_ctypeslib": "np.ctypeslib",
        "np_random": "np.random",
        "linalg_lapack": "np.linalg.lapack_lite",
        "math_private": "math._x",
        "set_np_attr": "np.sum = None",
        "eval": "eval('1')",
        "getattr": "getattr(np, 'load')",
        "type": "type(1)",
        "print": "print('hello from candidate')",
        "np_sum": "np.sum([1, 2])",
        "math_sqrt": "math.sqrt(4.0)",
        "ndarray_ctypes": "np.zeros(2).ctypes.data",
        "ndarray_tofile": "np.zeros(2).tofile",
    }}
    for key, code in snippets.items():
        namespace = make_namespace()
        try:
            exec(compile(code, "<bypass>", "exec"), namespace)
            results[key] = "ok"
        except Exception as exc:
            results[key] = type(exc).__name__
    print(json.dumps(results))
""")


def test_stripped_namespace_holds_even_without_the_policy(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-I", "-c", BYPASS.format(root=str(ROOT))], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["open"] == "NameError" and out["eval"] == "NameError" and out["getattr"] == "NameError"
    assert out["type"] == "NameError"
    assert out["import_os"] == "ImportError" and out["import_stmt"] == "ImportError"
    # numpy internals that are loaded come back as the restricted proxy (numpy's own lazy imports
    # need the import to succeed), so nothing outside the allowlist is reachable through them.
    for key in ("import_numpy_lib", "numpy_core_ctypes", "numpy_core_fromfile"):
        assert out[key] == "AttributeError", key
    assert out["numpy_core_from"] == "ImportError"  # `from proxy import fromfile` finds no such name
    assert out["numpy_unloaded"] == "ImportError"
    assert out["ndarray_max"] == "ok"  # numpy's lazy numpy._core._methods import still works
    for key in ("np_load", "np_save", "np_ctypeslib", "np_random", "linalg_lapack", "math_private", "set_np_attr"):
        assert out[key] == "AttributeError", key
    assert out["print"] == "ok" and "hello" not in proc.stdout  # print is a no-op
    assert out["np_sum"] == "ok" and out["math_sqrt"] == "ok"
    # The namespace limits names, not attributes: a value's own attributes stay reachable from it.
    # The AST policy refuses them (tests/data/candidates/hostile/15_ndarray_ctypes.py, 16_ndarray_tofile.py)
    # and the OS walls (read-only fs, file size 0, seccomp) stop what they could do.
    assert out["ndarray_ctypes"] == "ok" and out["ndarray_tofile"] == "ok"
    assert list(tmp_path.iterdir()) == []


def test_load_candidate_rejects_before_running(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from lesr_local.sandbox.limits import SandboxLimits, apply_limits
        from lesr_local.sandbox.restricted import CandidateRejected, NotSandboxed, load_candidate
        try:
            load_candidate("import numpy as np\\n")
        except NotSandboxed:
            print("refused outside the sandbox")
        apply_limits(SandboxLimits())
        try:
            load_candidate("import os\\nos.mkdir('made_by_candidate')\\n")
        except CandidateRejected as exc:
            print("rejected:", exc)
        f = load_candidate("import numpy as np\\nX = 2.0\\ndef revise_state(s):\\n    return np.append(s, X)\\n"
                           "def intrinsic_reward(updated_s):\\n    return float(updated_s[-1])\\n")
        print("value:", f.revise_state([1.0]).tolist(), f.intrinsic_reward(f.revise_state([1.0])))
        try:
            load_candidate("import numpy as np\\ndef revise_state(s):\\n    return s\\n"
                           "def intrinsic_reward(u):\\n    return 0.0\\nraise ValueError('boom')\\n")
        except CandidateRejected as exc:
            print("module:", exc)
    """)
    proc = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert "refused outside the sandbox" in proc.stdout, proc.stderr
    assert "rejected: line 1: `import os` is not allowed" in proc.stdout, proc.stderr
    assert "value: [1.0, 2.0] 2.0" in proc.stdout
    assert "module: running the module failed: ValueError: boom" in proc.stdout
    assert list(tmp_path.iterdir()) == []
