"""Live analysis of a stream of frames pushed one at a time (a browser camera over a WebSocket).

A :class:`LiveSession` keeps what must persist between frames of one stream (face tracks, EMA
smoothing, engagement state) and runs the analyzer's stages on each pushed frame, exactly as the
video pipeline does with a batch of one frame: detect → track → crop → measure → classify →
smooth → engagement.
"""

from __future__ import annotations

import numpy as np

from affectlens.pipeline import Analyzer
from affectlens.signals.engagement import EngagementScorer
from affectlens.smoothing import EmaSmoother
from affectlens.track import FaceTracker
from affectlens.types import FrameResult


class LiveSession:
    def __init__(self, analyzer_config, labels: tuple[str, ...], fps_hint: float = 15.0, source: str = "live"):
        c = analyzer_config
        self.labels = labels
        self.source = source
        self.tracker = FaceTracker(fps=fps_hint, lost_track_buffer_s=c.lost_track_buffer_s)
        self.smoother = EmaSmoother(alpha=c.smoothing_alpha)
        self.scorer = EngagementScorer(c.engagement, labels)
        self.index = 0

    def push(self, analyzer: Analyzer, image: np.ndarray, time_s: float) -> FrameResult:
        """Analyse the next frame (RGB uint8) taken at ``time_s`` seconds since the stream began."""
        faces = analyzer.detect(image, video=True)
        self.tracker.update(faces, time_s)
        faces = faces[faces.track_ids >= 0]  # a new face is confirmed on its second frame
        crops = analyzer.crops(image, faces)
        if analyzer.signals is not None and len(faces):
            analyzer.signals.measure_many([(image, faces)])
        n_classes = len(self.labels)
        faces.probs = analyzer.classifier.predict(crops) if len(crops) else np.zeros((0, n_classes), np.float32)
        self.smoother.update(faces, self.index, time_s)
        if analyzer.signals is not None:
            self.scorer.update(faces, time_s)
        h, w = image.shape[:2]
        result = FrameResult(self.source, self.index, time_s, w, h, faces, self.labels)
        self.index += 1
        return result
