"""Device selection and torch thread setup for a training worker (how many threads: procs.threads_per_worker)."""

from __future__ import annotations

import contextlib

import torch

from lesr_local.errors import BadInput

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(preference: str = "auto") -> torch.device:
    """`auto` picks CUDA, then MPS, else CPU; an explicit device that is missing is BadInput."""
    if preference not in DEVICE_CHOICES:
        raise BadInput(f"unknown device {preference!r}; choose one of: {', '.join(DEVICE_CHOICES)}")
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if preference == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if preference == "cuda" and not cuda:
        raise BadInput("--device cuda requested but torch sees no CUDA device")
    if preference == "mps" and not mps:
        raise BadInput("--device mps requested but torch sees no MPS device")
    return torch.device(preference)


def configure_threads(threads: int) -> None:
    """Set torch's intra-op threads; inter-op work is negligible in TD3, keep it to one thread."""
    torch.set_num_threads(max(1, threads))
    with contextlib.suppress(RuntimeError):  # already set once in this process: harmless
        torch.set_num_interop_threads(1)
