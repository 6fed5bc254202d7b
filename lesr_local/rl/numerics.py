"""What a training's floating-point results depend on beyond its settings: torch's version, the device
type and the CPU model (torch-free, so the engine can tell what a worker will report)."""

from __future__ import annotations

import functools
import platform
from importlib import metadata
from pathlib import Path


def package_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def expected_device(requested: str) -> str:
    """The device type a training asked to run on `requested` will get, told without importing torch
    (rl.device.resolve_device decides it in the worker: CUDA, then MPS, else the CPU)."""
    if requested != "auto":
        return requested.split(":")[0]
    torch_version = package_version("torch") or ""
    if "+cpu" not in torch_version and Path("/dev/nvidiactl").exists():
        return "cuda"
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"


def numerics_of(device_type: str, torch_version: str | None = None) -> str:
    return f"torch={torch_version or package_version('torch')};device={device_type};cpu={cpu_model()}"
