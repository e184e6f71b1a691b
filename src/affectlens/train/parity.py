"""The agreement every written graph must show with what it was made from (no PyTorch needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectlens.classify.card import card_path
from affectlens.errors import AffectlensError

PARITY_TOLERANCE = 1e-4


def require_parity(parity: float, written: Path, what: str) -> float:
    """``parity`` when it is finite and within :data:`PARITY_TOLERANCE`; else ``written`` (and its card) are
    removed and an error raised: a NaN (weights gone to NaN) compares false with any bound, so it is refused
    by name."""
    if np.isfinite(parity) and parity <= PARITY_TOLERANCE:
        return parity
    for f in (written, card_path(written)):
        f.unlink(missing_ok=True)
    why = (
        "give outputs that are not finite numbers (NaN or infinite weights?)"
        if not np.isfinite(parity)
        else f"disagree by {parity:.2e} (> {PARITY_TOLERANCE:g})"
    )
    raise AffectlensError(f"{what} {why}; {written.name} not written")
