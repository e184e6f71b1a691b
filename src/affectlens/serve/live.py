"""Live analysis of a stream of frames pushed one at a time (a browser camera over a WebSocket).

A :class:`LiveSession` holds one :class:`~affectlens.pipeline.Stream` (face tracks, EMA smoothing,
engagement state) and steps each pushed frame through it: the same stages, in the same order, as
the video pipeline with a batch of one frame. Analyzers come from a shared pool, so each push names
the one it borrowed; the stream's state stays with the session.
"""

from __future__ import annotations

import numpy as np

from affectlens.pipeline import Analyzer, Stream
from affectlens.sources import Frame
from affectlens.types import FrameResult


class LiveSession:
    def __init__(self, analyzer_config, labels: tuple[str, ...], fps_hint: float = 15.0, source: str = "live"):
        self.labels = labels
        self.source = source
        self.fps_hint = fps_hint
        self.stream: Stream | None = None
        self.index = 0

    def push(self, analyzer: Analyzer, image: np.ndarray, time_s: float) -> FrameResult:
        """Analyse the next frame (RGB uint8) taken at ``time_s`` seconds since the stream began."""
        if self.stream is None:
            self.stream = analyzer.stream(video=True, fps=self.fps_hint, batch_frames=1)
        self.stream.analyzer = analyzer
        result = self.stream.step(Frame(image, self.index, time_s, self.source))
        self.index += 1
        return result
