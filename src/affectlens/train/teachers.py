"""Teacher files: the soft targets ``affectlens teach`` writes, fingerprinted to the training faces."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from affectlens.errors import AffectlensError

__all__ = ["fingerprint", "load_teacher_file"]


def fingerprint(*arrays: np.ndarray) -> str:
    """A short hash of the training crops (or of several arrays, in order, as if joined end to end):
    targets file and training set must match exactly."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()[:16]


def load_teacher_file(path: str | Path, crops: np.ndarray) -> np.ndarray:
    """The probabilities in ``path`` (float32), checked against the training crops they were made for."""
    path = Path(path)
    if not path.is_file():
        raise AffectlensError(f"teacher file {path} not found (make it with `affectlens teach`)")
    data = np.load(path)
    probs = data["probs"].astype(np.float32)
    if len(probs) != len(crops):
        raise AffectlensError(f"teacher file {path} has {len(probs)} rows, the training set {len(crops)}")
    if "meta" in data:
        meta = json.loads(str(data["meta"]))
        want = meta.get("faces_sha256")
        if want and want != fingerprint(crops):
            raise AffectlensError(
                f"teacher file {path} was made for other training faces (datasets {meta['datasets']})"
            )
    return probs / probs.sum(1, keepdims=True)
