"""affectlens: facial expressions and engagement from images, video and webcams — offline and fast.

>>> from affectlens import Analyzer, to_dataframe
>>> results = list(Analyzer().analyze("clip.mp4"))      # doctest: +SKIP
>>> df = to_dataframe(results)                           # doctest: +SKIP
"""

from __future__ import annotations

from affectlens.errors import AffectlensError
from affectlens.labels import EMOTIONS, NEGATIVE, POSITIVE, valence
from affectlens.types import Faces, FrameResult


def __getattr__(name: str):
    # the version comes from the installed package's metadata: importlib.metadata costs ~40 ms of every
    # command's start-up, so it is read when asked for
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("affectlens")
        except PackageNotFoundError:  # pragma: no cover - source tree without install
            found = "0.0.0"
        globals()["__version__"] = found  # read once
        return found
    # the pipeline pulls in ONNX Runtime and the detector: import it only when asked for
    if name in ("Analyzer", "AnalyzerConfig", "analyze"):
        from affectlens import pipeline

        return getattr(pipeline, name)
    if name == "to_dataframe":  # (pandas is imported when it is called)
        from affectlens.sinks.columns import to_dataframe

        return to_dataframe
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
