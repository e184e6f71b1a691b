"""affectlens: facial expressions and engagement from images, video and webcams — offline and fast.

>>> from affectlens import Analyzer, to_dataframe
>>> results = list(Analyzer().analyze("clip.mp4"))      # doctest: +SKIP
>>> df = to_dataframe(results)                           # doctest: +SKIP
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from affectlens.errors import AffectlensError
from affectlens.labels import EMOTIONS, NEGATIVE, POSITIVE, valence
from affectlens.types import Faces, FrameResult, to_dataframe

try:
    __version__ = version("affectlens")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0.0.0"


def __getattr__(name: str):
    # the pipeline pulls in ONNX Runtime and the detector: import it only when asked for
    if name in ("Analyzer", "AnalyzerConfig", "analyze"):
        from affectlens import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'affectlens' has no attribute {name!r}")


__all__ = [
    "EMOTIONS",
    "NEGATIVE",
    "POSITIVE",
    "AffectlensError",
    "Analyzer",
    "AnalyzerConfig",
    "Faces",
    "FrameResult",
    "analyze",
    "to_dataframe",
    "valence",
]
