"""Face detectors behind one small interface; every model file ships inside the package (no downloads)."""

from __future__ import annotations

from typing import Any

from affectlens.detect.base import FaceDetector, as_rgb8, no_faces
from affectlens.errors import AffectlensError

# name → (what it is, keyword arguments for BlazeFaceDetector)
DETECTORS: dict[str, tuple[str, dict[str, Any]]] = {
    "blazeface": ("MediaPipe BlazeFace full-range (default; faces near and far, turned heads)", {"model": "full"}),
    "blazeface-short": ("MediaPipe BlazeFace short-range (selfie distance; misses small faces)", {"model": "short"}),
}


def check_detector(name: str) -> None:
    """Refuse a name that is not in :data:`DETECTORS` (before anything loads)."""
    if name not in DETECTORS:
        raise AffectlensError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}")


def get_detector(name: str = "blazeface", **kwargs: Any) -> FaceDetector:
    """A ready detector by name (see :data:`DETECTORS`); ``kwargs`` go to its constructor."""
    from affectlens.detect.blazeface import BlazeFaceDetector

    check_detector(name)
    return BlazeFaceDetector(**{**DETECTORS[name][1], **kwargs})


__all__ = ["DETECTORS", "FaceDetector", "as_rgb8", "check_detector", "get_detector", "no_faces"]
