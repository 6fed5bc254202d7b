"""The state representation a training uses: identity (baseline) or a candidate's F and G.

Each call is guarded: an exception or a malformed result becomes a `CandidateError` whose message is
the one-line reason the training fails with, e.g.
"revise_state raised ValueError at step 1234: math domain error".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class CandidateError(Exception):
    """The candidate's code failed during training; str() is the one-line reason."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


def _raised(function: str, exc: BaseException, where: str) -> CandidateError:
    text = " ".join(str(exc).split())[:200]
    detail = f": {text}" if text else ""
    return CandidateError(f"{function} raised {type(exc).__name__} {where}{detail}")


@dataclass
class Features:
    """F (revise_state) and G (intrinsic_reward); both None for the raw-state baseline."""

    revise_state: Callable[[np.ndarray], object] | None = None
    intrinsic_reward: Callable[[np.ndarray], object] | None = None
    feature_dim: int | None = None  # fixed by the first call
    calls: int = 0  # revise_state calls made (training and evaluation)

    @property
    def is_candidate(self) -> bool:
        return self.revise_state is not None

    def transform(self, state: np.ndarray, where: str) -> np.ndarray:
        """F(state) as a finite float64 vector of a constant length; `where` names the step in errors."""
        self.calls += 1
        if self.revise_state is None:
            out = np.asarray(state, dtype=np.float64)
        else:
            try:
                raw = self.revise_state(np.array(state, dtype=np.float64, copy=True))
                out = np.asarray(raw, dtype=np.float64).reshape(-1)
            except Exception as exc:  # noqa: BLE001 - any candidate failure fails the training
                raise _raised("revise_state", exc, where) from None
            if not np.all(np.isfinite(out)):
                raise CandidateError(f"revise_state returned a non-finite value {where}")
        if self.feature_dim is None:
            self.feature_dim = int(out.shape[0])
        elif out.shape[0] != self.feature_dim:
            raise CandidateError(
                f"revise_state returned {out.shape[0]} values {where} (earlier {self.feature_dim})")
        return out

    def intrinsic(self, features: np.ndarray, where: str) -> float:
        """G(F(s)); 0 for the baseline."""
        if self.intrinsic_reward is None:
            return 0.0
        try:
            value = float(np.asarray(self.intrinsic_reward(features.copy()), dtype=np.float64).reshape(()))
        except Exception as exc:  # noqa: BLE001
            raise _raised("intrinsic_reward", exc, where) from None
        if not np.isfinite(value):
            raise CandidateError(f"intrinsic_reward returned a non-finite value {where}")
        return value
