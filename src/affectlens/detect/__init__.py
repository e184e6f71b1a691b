"""Face detectors behind one small interface; every model file ships inside the package."""

from __future__ import annotations

from affectlens.detect.base import DetectedFaces, FaceDetector
from affectlens.errors import AffectlensError

DETECTORS = ("blazeface", "blazeface-short")


def get_detector(name: str = "blazeface", **kwargs) -> FaceDetector:
    """``blazeface`` (MediaPipe full-range, the default) or ``blazeface-short`` (selfie range)."""
    from affectlens.detect.blazeface import BlazeFaceDetector

    if name == "blazeface":
        return BlazeFaceDetector(model="full", **kwargs)
    if name == "blazeface-short":
        return BlazeFaceDetector(model="short", **kwargs)
    raise AffectlensError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}")


__all__ = ["DETECTORS", "DetectedFaces", "FaceDetector", "get_detector"]
