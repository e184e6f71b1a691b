"""Exponential moving average of class probabilities, per track id (never mixing two ids).

``s_t = a * x_t + (1 - a) * s_{t-1}``. With a ``frame_rate`` (the pipeline gives videos 30, whatever their own
rate), ``alpha`` is the weight of one frame at that rate and ``a = 1 - (1 - alpha) ** (dt * frame_rate)`` for
a gap of ``dt`` seconds, so the smoothing is the same in seconds at any source rate and whether every frame is
analysed or fewer (``--fps``); without it, ``a = alpha`` per processed frame. The default ``alpha = 0.5``
halves the weight of a frame every frame: at 30 fps the smoothed value reacts within ~0.1 s yet a one-frame
misread moves it only half-way. A track unseen for ``reset_after_s`` starts afresh, and state for vanished
tracks is dropped so memory stays flat.
"""

from __future__ import annotations

import numpy as np

from affectlens.types import Faces


def time_alpha(alpha: float, dt: float, frame_rate: float | None) -> float:
    """The EMA weight for a gap of ``dt`` seconds, ``alpha`` being the weight of one frame at ``frame_rate``."""
    if not frame_rate or not dt > 0 or not np.isfinite(dt):
        return alpha
    return 1.0 - (1.0 - alpha) ** (dt * frame_rate)


class EmaSmoother:
    def __init__(
        self,
        alpha: float = 0.5,
        reset_after_s: float = 2.0,
        reset_after_frames: int = 60,
        frame_rate: float | None = None,
    ):
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self.frame_rate = frame_rate
        self.reset_after_s = reset_after_s
        self.reset_after_frames = reset_after_frames
        self._state: dict[int, tuple[np.ndarray, float, int]] = {}  # id → (smoothed, time_s, frame)

    def update(self, faces: Faces, frame: int, time_s: float | None) -> Faces:
        """Fill ``faces.smoothed`` from ``faces.probs``."""
        assert faces.probs is not None
        sm = faces.probs.copy()
        t = time_s if time_s is not None else float("nan")
        for i, tid in enumerate(faces.track_ids):
            if tid < 0:
                continue
            prev = self._state.get(int(tid))
            if prev is not None and not self._stale(prev, frame, t):
                a = time_alpha(self.alpha, t - prev[1], self.frame_rate)
                sm[i] = a * sm[i] + (1 - a) * prev[0]
            self._state[int(tid)] = (sm[i], t, frame)
        faces.smoothed = sm
        self._prune(frame, t)
        return faces

    def _stale(self, prev, frame: int, t: float) -> bool:
        if not np.isnan(t) and not np.isnan(prev[1]):
            return t - prev[1] > self.reset_after_s
        return frame - prev[2] > self.reset_after_frames

    def _prune(self, frame: int, t: float) -> None:
        if len(self._state) > 64:
            self._state = {k: v for k, v in self._state.items() if not self._stale(v, frame, t)}
